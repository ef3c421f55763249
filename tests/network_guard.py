"""Run the zest CLI in a process where every non-loopback connection (and name lookup) is
refused and recorded: ``python network_guard.py RECORD_FILE zest-args...``."""

import ipaddress
import json
import socket
import sys

attempts = []


def _is_loopback(host) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def install(record_path: str) -> None:
    connect, lookup = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
            attempts.append(repr(address))
            _save(record_path)
            raise OSError("network access refused by the test")
        return connect(self, address)

    def guarded_lookup(host, *args, **kwargs):
        if host is not None and not _is_loopback(host):
            attempts.append(f"lookup {host}")
            _save(record_path)
            raise socket.gaierror("name lookup refused by the test")
        return lookup(host, *args, **kwargs)

    socket.socket.connect = guarded_connect
    socket.socket.connect_ex = guarded_connect
    socket.getaddrinfo = guarded_lookup
    _save(record_path)


def _save(path: str) -> None:
    with open(path, "w") as f:
        json.dump(attempts, f)


if __name__ == "__main__":
    install(sys.argv[1])
    if sys.argv[2] == "--probe":  # for the guard's own test
        for probe in (
            lambda: socket.socket().connect(("192.0.2.1", 80)),
            lambda: socket.getaddrinfo("example.invalid", 80),
        ):
            try:
                probe()
            except OSError:
                pass
        sys.exit(0)
    sys.argv = ["zest", *sys.argv[2:]]
    from zest_core.cli import main

    main()
