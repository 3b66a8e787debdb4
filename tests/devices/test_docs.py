"""docs/device-protocol.md shows real frames: every example line decodes, CRC and all."""

from __future__ import annotations

import re
from pathlib import Path

from devices.codec import DEVICE_TYPES, FIELDS, GATEWAY_TYPES, decode

DOC = Path(__file__).resolve().parents[2] / "docs" / "device-protocol.md"


class TestProtocolDoc:
    def test_every_example_frame_decodes(self) -> None:
        lines = re.findall(r"^\s*(\{.*\}\*[0-9A-Fa-f]{4})\s*$", DOC.read_text(), re.MULTILINE)
        types = {decode(line.encode(), DEVICE_TYPES | GATEWAY_TYPES)["t"] for line in lines}
        assert types == set(FIELDS)  # an example of every type

    def test_the_check_values_are_there(self) -> None:
        text = DOC.read_text()
        assert "`123456789` is `29B1`" in text
        assert (
            '{"t":"hb","v":1,"dev":"VR-03","boot":"1a2b3c4d","seq":5,"state":"idle"}*8D0B' in text
        )
