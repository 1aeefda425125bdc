#!/bin/sh
# The SFTP host's first start: its host keys (kept under /etc/ssh/keys when
# that is a volume, so a restarted host keeps its identity), then the one
# user SFTP_USER, who logs in with a key only (SFTP_AUTHORIZED_KEYS, the
# authorized_keys lines), for SFTP only, as a NAS's backup account does,
# and owns /srv/sftp.
set -eu
user=${SFTP_USER:?SFTP_USER names the login user}
keys=${SFTP_AUTHORIZED_KEYS:?SFTP_AUTHORIZED_KEYS holds the public keys that may log in}

mkdir -p /etc/ssh/keys
for type in ed25519 rsa; do
    [ -f "/etc/ssh/keys/ssh_host_${type}_key" ] ||
        ssh-keygen -q -t "$type" -N '' -f "/etc/ssh/keys/ssh_host_${type}_key"
done
cat >/etc/ssh/sshd_config.d/sftp-host.conf <<CONF
HostKey /etc/ssh/keys/ssh_host_ed25519_key
HostKey /etc/ssh/keys/ssh_host_rsa_key
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers $user
Match User $user
    ForceCommand internal-sftp
    AllowTcpForwarding no
CONF

id "$user" >/dev/null 2>&1 || useradd --create-home --shell /bin/sh "$user"
home=$(getent passwd "$user" | cut -d: -f6)
install -d -m 0700 -o "$user" -g "$user" "$home/.ssh"
printf '%s\n' "$keys" >"$home/.ssh/authorized_keys"
chown "$user:$user" "$home/.ssh/authorized_keys" /srv/sftp
chmod 0600 "$home/.ssh/authorized_keys"
exec "$@"
