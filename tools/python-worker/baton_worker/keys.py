"""CURVE key files, as ``baton keys`` and ``baton up`` write them (docs/security.md).

A key file holds ``NAME = VALUE`` lines (``name``, ``role``, ``public-key``, and in a secret file
``secret-key``) and ``#`` comments. A line is split at its first ``=``, since Z85 text may contain
one.
"""

from __future__ import annotations

import os
import struct
from typing import Dict, NamedTuple, Optional

import zmq
from zmq.utils import z85

Z85_KEY_LENGTH = 40
#: The characters of Z85 text (ZeroMQ RFC 32).
Z85_ALPHABET = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#")


class KeyFileError(ValueError):
    """A key file that cannot be read, or lacks a key; the message names the file."""


def read_key_file(path: str) -> Dict[str, str]:
    """The ``NAME = VALUE`` entries of a key file."""
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except FileNotFoundError:
        raise KeyFileError(f"the key file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise KeyFileError(f"cannot read the key file {path}: {error}") from None
    entries: Dict[str, str] = {}
    for line in lines:
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, equals, value = stripped.partition("=")
        if equals:
            entries[name.strip()] = value.strip()
    return entries


def _key(entries: Dict[str, str], name: str, path: str) -> str:
    value = entries.get(name)
    if value is None:
        raise KeyFileError(f"the key file {path} has no {name} line")
    if len(value) != Z85_KEY_LENGTH:
        raise KeyFileError(f"the {name} in {path} is {len(value)} characters; a Z85 key has {Z85_KEY_LENGTH}")
    strangers = sorted(set(value) - Z85_ALPHABET)
    if strangers:
        raise KeyFileError(f"the {name} in {path} is not Z85 text: it holds {''.join(strangers)!r}, which Z85 "
                           "does not use")
    try:
        z85.decode(value.encode("ascii"))
    except (ValueError, struct.error):
        raise KeyFileError(f"the {name} in {path} is not Z85 text: a group of five characters is over 2^32") from None
    return value


class KeyPair(NamedTuple):
    """A client's key pair, read from a secret key file (``KEYS/pool-NAME.secret``)."""

    public: str
    secret: str
    name: str
    path: str

    @property
    def fingerprint(self) -> str:
        """The public key's first 12 characters, as Baton's logs show a key."""
        return self.public[:12]


def read_key_pair(path: str) -> KeyPair:
    """The key pair in a secret key file."""
    entries = read_key_file(path)
    public = _key(entries, "public-key", path)
    secret = _key(entries, "secret-key", path)
    try:
        derived = zmq.curve_public(secret.encode("ascii")).decode("ascii")
    except zmq.ZMQError:
        derived = public  # A libzmq without CURVE cannot tell; the handshake would fail anyway.
    if derived != public:
        raise KeyFileError(f"the public-key in {path} is not the secret-key's ({derived[:12]}…): the file holds "
                           "halves of two different key pairs")
    return KeyPair(public, secret, entries.get("name", os.path.basename(path)), path)


def read_public_key(path: str) -> str:
    """The public key in a key file (``KEYS/shard-N.key``, or a secret file, which holds it too)."""
    return _key(read_key_file(path), "public-key", path)


class Curve(NamedTuple):
    """What a link needs to speak CURVE to one shard: the worker's pair and the shard's public key."""

    pair: KeyPair
    server_key: str
    server_key_path: str

    def describe(self) -> str:
        """The keys in words, for errors: which key was used, never the secret."""
        return (
            f"the key {self.pair.name} from {self.pair.path} (public key {self.pair.fingerprint}…) "
            f"and the server key from {self.server_key_path} ({self.server_key[:12]}…)"
        )


def describe(curve: Optional[Curve]) -> str:
    """The keys a link uses, in words for logs and errors (never the secret); says so when there is none."""
    return curve.describe() if curve else "no key (plain TCP, no CURVE)"
