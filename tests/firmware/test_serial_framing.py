"""Host-side framing of the focus-controller protocol (no simulator needed)."""

from __future__ import annotations

from psfbench.core.devices.serial_controller import (
    MAX_REQUEST,
    crc16_ccitt,
    decode_frame,
    encode_frame,
)


def test_crc_check_value_matches_the_firmware() -> None:
    assert crc16_ccitt(b"123456789") == 0x29B1  # same check value as firmware/tests


def test_round_trip_and_format() -> None:
    frame = encode_frame("17 MOVE -250")
    assert frame.endswith(b"\n") and frame[-6:-5] == b"*"
    assert frame[-5:-1] == frame[-5:-1].upper()
    assert decode_frame(frame[:-1]) == "17 MOVE -250"


def test_every_single_byte_corruption_or_drop_is_rejected() -> None:
    line = encode_frame("31 OK 1234 250005 1000 2000 7")[:-1]
    for i in range(len(line)):
        assert decode_frame(line[:i] + line[i + 1 :]) is None
        for bit in range(8):
            damaged = bytearray(line)
            damaged[i] ^= 1 << bit
            assert decode_frame(bytes(damaged)) is None


def test_rejects_malformed_lines() -> None:
    lettered = [
        f for f in (encode_frame(f"{n} POS")[:-1] for n in range(1, 50)) if f[-4:].lower() != f[-4:]
    ]
    assert lettered
    for f in lettered:  # lower-case hex is not the canonical spelling
        assert decode_frame(f[:-4] + f[-4:].lower()) is None
    assert decode_frame(b"1 POS") is None
    assert decode_frame(b"") is None
    long_payload = "1 " + "X" * MAX_REQUEST
    assert decode_frame(encode_frame(long_payload)[:-1], MAX_REQUEST) is None
    assert decode_frame(encode_frame("1 \x01")[:-1]) is None  # control characters
