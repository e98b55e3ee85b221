"""Tests may reach loopback only: the pytest-socket guard configured in pyproject.toml is in force."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import pytest_socket


@pytest.fixture
def recorded_connects(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Replace the real connect behind the guard with a recorder, so no packet is ever sent here."""
    calls: list[object] = []
    monkeypatch.setattr(pytest_socket, "_true_connect", lambda sock, address: calls.append(address))
    return calls


@pytest.mark.parametrize("address", [("192.0.2.1", 443), ("8.8.8.8", 53), ("2001:db8::1", 80, 0, 0)])
def test_connections_beyond_loopback_are_refused(recorded_connects: list[object], address: tuple) -> None:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        with pytest.warns(UserWarning, match="tried to use socket"):
            with pytest.raises(pytest_socket.SocketConnectBlockedError):
                sock.connect(address)
    assert recorded_connects == []


@pytest.mark.parametrize("address", [("127.0.0.1", 9), ("::1", 9, 0, 0)])
def test_loopback_is_allowed(recorded_connects: list[object], address: tuple) -> None:
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.connect(address)
    assert recorded_connects == [address]


def test_unix_sockets_are_allowed_as_local_ipc(tmp_path: Path) -> None:
    # the worker forkserver is asked for each new worker process over a UNIX socket
    path = str(tmp_path / "ipc.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server, \
            socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        server.bind(path)
        server.listen(1)
        client.connect(path)
        peer, _ = server.accept()
        with peer:
            client.sendall(b"ok")
            assert peer.recv(2) == b"ok"
