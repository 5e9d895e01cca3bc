"""The codec against docs/protocol.md: every worker-protocol example there decodes to the listing beside
it and encodes back to the same octets, and bad frames are refused."""

from __future__ import annotations

import json
import os
import re
import struct
import unittest

from baton_worker import wire

from support import REPOSITORY

PROTOCOL = os.path.join(REPOSITORY, "docs", "protocol.md")
WORKER_MESSAGES = {message_id.name for message_id in wire.MessageId}


def examples():
    """(name, octets, listing text) for every ```hex block followed by a ```fields block."""
    with open(PROTOCOL, encoding="utf-8") as file:
        text = file.read()
    found = []
    for match in re.finditer(r"```hex\n(.*?)```\s*```fields\n(.*?)```", text, re.S):
        octets = bytes.fromhex(match.group(1).replace("\n", " "))
        listing = match.group(2)
        found.append((listing.split("\n", 1)[0].strip(), octets, listing))
    return found


def parse_scalar(text: str):
    if text.startswith("<") and text.endswith(">"):
        return bytes.fromhex(text[1:-1])
    if text[0] in '"[{' or re.fullmatch(r"-?\d+", text):
        return json.loads(text)
    return text  # An enumeration's name: command, succeeded.


def parse_listing(listing: str):
    """The fields of a listing: ``key: value`` lines nested by indentation, ``- `` starting list items."""
    lines = [line for line in listing.split("\n")[1:] if line.strip()]

    def block(start: int, indent: int):
        values = {}
        index = start
        while index < len(lines):
            line = lines[index]
            depth = len(line) - len(line.lstrip())
            if depth < indent:
                break
            key, _, rest = line.strip().partition(":")
            rest = rest.strip()
            index += 1
            if rest:
                values[key] = parse_scalar(rest)
                continue
            items = []
            while index < len(lines) and lines[index].lstrip().startswith("- "):
                item_indent = len(lines[index]) - len(lines[index].lstrip()) + 2
                lines[index] = " " * item_indent + lines[index].lstrip()[2:]
                item, index = block(index, item_indent)
                items.append(item)
            if items:
                values[key] = items
            else:
                values[key], index = block(index, indent + 2)
        return values, index

    return block(0, 2)[0]


def normalised(value):
    """A decoded value as a listing writes it: kebab-case names, enumerations by name."""
    if isinstance(value, wire.Outcome):
        return value.label
    if isinstance(value, wire.Kind):
        return value.name.lower()
    if hasattr(value, "_asdict"):
        return {key.replace("_", "-"): normalised(item) for key, item in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [normalised(item) for item in value]
    if isinstance(value, dict):
        return {key: normalised(item) for key, item in value.items()}
    return value


def listed(value, key=""):
    """The listing's value with a bytes field's ``[]`` read as no octets."""
    if key == "data" and value == []:
        return b""
    if isinstance(value, dict):
        return {name: listed(item, name) for name, item in value.items()}
    if isinstance(value, list):
        return [listed(item) for item in value]
    return value


class ProtocolExamplesTests(unittest.TestCase):
    def test_every_worker_message_has_an_example(self):
        names = {name for name, _, _ in examples()}
        self.assertEqual(WORKER_MESSAGES - names, set())

    def test_worker_examples_decode_to_their_listing_and_encode_back(self):
        checked = 0
        for name, octets, listing in examples():
            if name not in WORKER_MESSAGES:
                continue
            with self.subTest(message=name):
                message = wire.decode(octets)
                self.assertEqual(wire.name_of(message), name)
                self.assertEqual(normalised(message), listed(parse_listing(listing)))
                self.assertEqual(wire.encode(message), octets)
                checked += 1
        self.assertEqual(checked, len(WORKER_MESSAGES))

    def test_other_services_messages_are_not_taken_for_worker_messages(self):
        for name, octets, _ in examples():
            if name in WORKER_MESSAGES:
                continue
            with self.subTest(message=name), self.assertRaises(wire.Malformed):
                wire.decode(octets)


class MalformedFrameTests(unittest.TestCase):
    def frame(self, message_id, body=b"", version=1):
        return b"BTN" + bytes([version, message_id]) + body

    def test_a_frame_without_the_signature_is_malformed(self):
        for frame in (b"", b"BTN", b"XYZ\x01\x08", b"BTN\x01"):
            with self.subTest(frame=frame), self.assertRaises(wire.Malformed):
                wire.decode(frame)

    def test_another_version_is_malformed_except_disconnect(self):
        with self.assertRaisesRegex(wire.Malformed, "version 2"):
            wire.decode(self.frame(wire.MessageId.HEARTBEAT, version=2))
        reason = b"protocol version 2 is not supported"
        message = wire.decode(self.frame(wire.MessageId.DISCONNECT, struct.pack(">HB", 505, len(reason)) + reason, 2))
        self.assertEqual(message, wire.Disconnect(505, reason.decode()))

    def test_truncated_fields_and_leftover_octets_are_malformed(self):
        with self.assertRaisesRegex(wire.Malformed, "runs past the end"):
            wire.decode(self.frame(wire.MessageId.PULL, b"\x00\x00"))
        with self.assertRaisesRegex(wire.Malformed, "left over"):
            wire.decode(self.frame(wire.MessageId.PULL, b"\x00\x00\x00\x01\x00"))

    def test_counts_beyond_the_frame_are_refused_before_reading(self):
        with self.assertRaisesRegex(wire.Malformed, "counts"):
            wire.decode(self.frame(wire.MessageId.RECEIPT, struct.pack(">I", 1_000_000)))

    def test_text_that_is_not_utf8_is_malformed(self):
        with self.assertRaisesRegex(wire.Malformed, "UTF-8"):
            wire.decode(self.frame(wire.MessageId.DISCONNECT, struct.pack(">HB", 401, 2) + b"\xff\xfe"))

    def test_an_enumeration_value_not_listed_is_malformed(self):
        spec = wire.TaskSpec(1, 1, 2, "j", 0, "p", "f", 0, 1, "j", 0, 1, "", wire.Kind.COMMAND, "true", "t", {}, 0, 0, ())
        frame = bytearray(wire.encode(wire.Tasks(0, (spec,))))
        kind_at = frame.index(b"\x01\x00\x00\x00\x04true") - 0
        frame[kind_at] = 9
        with self.assertRaisesRegex(wire.Malformed, "ActionKind"):
            wire.decode(bytes(frame))

    def test_oversized_fields_are_refused(self):
        spec = wire.TaskSpec(1, 1, 2, "j", 0, "p", "f", 0, 1, "j", 0, 1, "k" * 1025, wire.Kind.COMMAND, "true", "t",
                             {}, 0, 0, ())
        with self.assertRaisesRegex(wire.Malformed, "partition-key"):
            wire.decode(wire.encode(wire.Tasks(0, (spec,))))

    def test_a_welcome_result_limit_over_16_mib_is_malformed(self):
        self.assertEqual(wire.decode(wire.encode(wire.Welcome(1, 1, 1000, 3, 16 << 20))).result_limit, 16 << 20)
        with self.assertRaisesRegex(wire.Malformed, "result-limit is 16777217, over its limit of 16777216"):
            wire.decode(wire.encode(wire.Welcome(1, 1, 1000, 3, (16 << 20) + 1)))

    def test_an_unknown_message_id_is_malformed(self):
        with self.assertRaisesRegex(wire.Malformed, "0x7f"):
            wire.decode(self.frame(0x7F))


class RoundTripTests(unittest.TestCase):
    def test_every_message_round_trips(self):
        item = wire.TaskInput("extract", 0, 3, "eu\tx", b"\x00\x01")
        spec = wire.TaskSpec(2**63, 65535, 42, "load", 3, "payments", "eod", 1, 2, "check", 7, 8, "eu",
                             wire.Kind.HANDLER, "load-ledger", "payments/load", {"b": "2", "a": "ü"}, 30000, 2**60,
                             (item,))
        result = wire.TaskResult(17, 1, wire.Outcome.TIMED_OUT, -9, 1795852800000, 12, "out", "h:/l", "why", b"\xff")
        messages = [
            wire.Ready("w", 2**64 - 1, 8, 250, 1, ("gpu",), ("a", "b"), (wire.TaskRef(1, 2),),
                       (wire.SetOffer("b", 100),), 1),
            wire.Welcome(1, 2, 250, 3, 1 << 20), wire.Pull(3), wire.Tasks(9, (spec, spec._replace(task=1))),
            wire.Results((result,)), wire.Receipt((wire.TaskRef(17, 1),)), wire.Cancel(5000, (wire.TaskRef(1, 1),)),
            wire.Heartbeat(), wire.Disconnect(503, "worker stopping"), wire.Demand(12, 3), wire.Recall(2),
            wire.Recalled(1),
        ]
        for message in messages:
            with self.subTest(message=type(message).__name__):
                self.assertEqual(wire.decode(wire.encode(message)), message)


if __name__ == "__main__":
    unittest.main()
