"""Loaded by every Python child the tests start (PYTHONPATH): no network from subprocesses.

pytest-socket guards the test process itself; this guards the FairNAD CLI processes and
their workers, which pytest-socket cannot reach. Unix sockets (the fork server) and the
loopback address (the tests' scripted LLM server) stay allowed.
"""

import socket

_real_connect = socket.socket.connect


class NetworkBlockedError(RuntimeError):
    pass


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _guarded_connect(self, address):  # type: ignore[no-untyped-def]
    # loopback stays open: the scripted LLM server the tests start listens on 127.0.0.1
    if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in _LOOPBACK:
        raise NetworkBlockedError(f"FairNAD tests never use the network (tried {address!r})")
    return _real_connect(self, address)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
