#!/bin/bash
# ansible-playbook --syntax-check of every playbook against every inventory
# it is meant for.
set -eu
for inventory in inventories/*/; do
    ansible-playbook --syntax-check -i "$inventory" site.yml playbooks/*.yml >/dev/null
    echo "syntax ok: site.yml playbooks/*.yml with $inventory"
done
