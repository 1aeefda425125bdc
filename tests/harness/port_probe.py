"""Does a TCP port answer, from a given address of a client?

The Molecule tests call `answers()` through testinfra; it runs this file's
`probe()` on the test host (as `python3 -c`, in the client's network
namespace when `via` says so), bound to the client address asked for, so
that a firewall rule by source address is what is tested. A refusal, a
reset and a timeout (3 s, a dropped packet) all count as closed.

In a test directory: sys.path gets tests/harness, then
    from port_probe import answers
"""

import inspect
import shlex
import socket
import sys


def probe(source, server, port):
    """Prints "open", or the name of the error that closed the door."""
    s = socket.socket()
    s.settimeout(3)
    s.bind((source, 0))
    try:
        s.connect((server, int(port)))
        print("open")
    except OSError as error:
        print(type(error).__name__)


def answers(host, side, port, via=""):
    """Whether a port answers, SIDE being (the client's address, the
    server's): run on testinfra's HOST behind the command prefix VIA (e.g.
    "ip netns exec client"). 0.0.0.0 as the client's address: any of the
    host's own."""
    source, server = side
    script = f"import socket, sys\n{inspect.getsource(probe)}\nprobe(*sys.argv[1:])\n"
    out = host.run(f"{via} python3 -c {shlex.quote(script)} {source} {server} {port}")
    # A probe that could not run says nothing about the port: never "closed".
    assert out.rc == 0 and out.stdout.strip(), (out.rc, out.stdout, out.stderr)
    return out.stdout.strip() == "open"


if __name__ == "__main__":
    probe(*sys.argv[1:])
