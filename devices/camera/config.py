"""The [[camera]] tables of stations.toml: which camera watches which station, and what it reads.

    [gateway]
    device_keys = "/etc/safetrain/device-keys.toml"   # the pods' QR keys (needed for reads = "qr")

    [[camera]]                      # a VR pod without a serial link shows its result as a QR
    station = "VR-07"               # the station its results are attributed to
    url = "rtsp://10.20.1.57/stream1"   # cam://0, a video file, rtsp://, http://, a folder, sim://
    reads = "qr"
    roi = [400, 120, 480, 480]      # optional: x, y, width, height of the screen in the frame
    devices = ["VR-07"]             # optional: device codes it may see (default: the station's)

    [[camera]]                      # a legacy rig that shows its score on an LED display
    station = "MECH-02"
    url = "cam://0"
    reads = "7seg"
    device = "MECH-02"              # optional: the device code on the server (default: station)
    scenario = "MECH-PINCH"         # the scenario its runs are scored under
    max = 100                       # the display's full score
    digits = 3
    decimals = 1                    # digits after the decimal point
    markers = [0, 1, 2, 3]          # ArUco ids at the display's corners, TL TR BR BL …
    corners = [[412, 220], [868, 226], [866, 402], [410, 396]]   # … or a fixed calibration
    stable_frames = 5               # optional: identical reads before a value is taken
    lit = "auto"                    # optional: the LEDs' colour, red, green or auto
    dictionary = "DICT_4X4_50"      # optional: the markers' ArUco dictionary

    [[camera]]                      # a practical exam seat: recorded while an exam is open there
    station = "EXAM-01"
    url = "rtsp://10.20.1.61/stream1"
    reads = "record"
    fps = 10                        # optional: frames a second written (default 10)

docs/cameras.md describes each key; `safetrain camera calibrate` prints a 7seg table to paste.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CAMERA_READS = ("qr", "7seg", "record")
COMMON_KEYS = {"station", "url", "reads", "name"}
QR_KEYS = {"roi", "devices", "max_age_s"}
RECORD_KEYS = {"fps"}
SEVEN_SEG_KEYS = {
    "device",
    "scenario",
    "max",
    "digits",
    "decimals",
    "markers",
    "corners",
    "stable_frames",
    "lit",
    "dictionary",
}
LIT = ("auto", "red", "green")


@dataclass(frozen=True)
class CameraConfig:
    """One [[camera]] table, checked."""

    name: str
    station: str
    url: str
    reads: str  # qr, 7seg or record
    # qr
    roi: tuple[int, int, int, int] | None = None
    devices: tuple[str, ...] = ()
    max_age_s: float = 600.0
    # 7seg
    device: str = ""
    scenario: str = ""
    max: float = 0.0
    digits: int = 0
    decimals: int = 0
    markers: tuple[int, int, int, int] | None = None
    corners: tuple[tuple[float, float], ...] | None = None
    stable_frames: int = 5
    lit: str = "auto"  # the LEDs' colour
    dictionary: str = "DICT_4X4_50"  # the ArUco markers' dictionary
    # record
    fps: float = 10.0


def _ints(value: Any, count: int) -> tuple[int, ...] | None:
    if (
        isinstance(value, list)
        and len(value) == count
        and all(type(v) is int and v >= 0 for v in value)
    ):
        return tuple(value)
    return None


def _corners(value: Any) -> tuple[tuple[float, float], ...] | None:
    if not isinstance(value, list) or len(value) != 4:
        return None
    points = []
    for point in value:
        if (
            not isinstance(point, list)
            or len(point) != 2
            or not all(type(v) in (int, float) and v >= 0 for v in point)
        ):
            return None
        points.append((float(point[0]), float(point[1])))
    return tuple(points)


def parse_cameras(
    entries: Any,
    problems: list[str],
    *,
    station_code: Any,
    device_code: Any,
    scenario_code: Any,
) -> tuple[CameraConfig, ...]:
    """The checked [[camera]] tables; every problem is appended to `problems`, naming the key.

    The three code patterns are those of stations.toml's stations, the protocol's device names
    and the curricula's scenario codes (passed in, so this module depends on none of them).
    """
    if not isinstance(entries, list):
        problems.append("camera: must be an array of tables ([[camera]])")
        return ()
    cameras: list[CameraConfig] = []
    names: dict[str, int] = {}
    for i, entry in enumerate(entries):
        where = f"camera[{i}]"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a table")
            continue
        bad = len(problems)
        station, url, reads = entry.get("station"), entry.get("url"), entry.get("reads")
        if isinstance(station, str):
            where = f"camera[{i}:{station}]"
        if not isinstance(station, str) or station_code.fullmatch(station) is None:
            problems.append(f"{where}.station: must be 1–16 of A–Z 0–9 - (got {station!r})")
        if not isinstance(url, str) or not url.strip():
            problems.append(f"{where}.url: must be a camera URL (cam://0, rtsp://…, a file …)")
        if reads not in CAMERA_READS:
            problems.append(f"{where}.reads: must be one of {', '.join(CAMERA_READS)}")
            continue
        own = {"qr": QR_KEYS, "7seg": SEVEN_SEG_KEYS, "record": RECORD_KEYS}[reads]
        known = COMMON_KEYS | own
        for key in sorted(set(entry) - known):
            problems.append(
                f"{where}.{key}: unknown key for reads = {reads!r} "
                f"(known: {', '.join(sorted(known))})"
            )
        name = entry.get("name", f"{station}-{reads}")
        if not isinstance(name, str) or not name:
            problems.append(f"{where}.name: must be a non-empty string")
        elif name in names:
            problems.append(f"{where}.name: {name} is also camera[{names[name]}]'s")
        fields: dict[str, Any] = {}
        if reads == "qr":
            fields.update(_qr(entry, where, station, problems, device_code))
        elif reads == "record":
            fps = entry.get("fps", 10)
            if type(fps) not in (int, float) or not 1 <= fps <= 30:
                problems.append(f"{where}.fps: must be 1 … 30 frames a second (got {fps!r})")
            else:
                fields["fps"] = float(fps)
        else:
            fields.update(_seven_seg(entry, where, station, problems, device_code, scenario_code))
        if len(problems) == bad:
            assert isinstance(station, str) and isinstance(url, str) and isinstance(name, str)
            names[name] = i
            cameras.append(CameraConfig(name=name, station=station, url=url, reads=reads, **fields))
    return tuple(cameras)


def _qr(
    entry: dict[str, Any], where: str, station: Any, problems: list[str], device_code: Any
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if "roi" in entry:
        roi = _ints(entry["roi"], 4)
        if roi is None or roi[2] == 0 or roi[3] == 0:
            problems.append(
                f"{where}.roi: must be [x, y, width, height] in pixels (got {entry['roi']!r})"
            )
        else:
            fields["roi"] = roi
    devices = entry.get("devices", [station])
    if (
        not isinstance(devices, list)
        or not devices
        or not all(isinstance(d, str) and device_code.fullmatch(d) for d in devices)
    ):
        problems.append(f"{where}.devices: must be a list of device codes (got {devices!r})")
    else:
        fields["devices"] = tuple(devices)
    if "max_age_s" in entry:
        age = entry["max_age_s"]
        if type(age) not in (int, float) or not 10 <= age <= 86_400:
            problems.append(f"{where}.max_age_s: must be 10 … 86400 seconds (got {age!r})")
        else:
            fields["max_age_s"] = float(age)
    return fields


def _seven_seg(
    entry: dict[str, Any],
    where: str,
    station: Any,
    problems: list[str],
    device_code: Any,
    scenario_code: Any,
) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    device = entry.get("device", station)
    if not isinstance(device, str) or device_code.fullmatch(device) is None:
        problems.append(f"{where}.device: must be a device code (got {device!r})")
    else:
        fields["device"] = device
    scenario = entry.get("scenario")
    if not isinstance(scenario, str) or scenario_code.fullmatch(scenario) is None:
        problems.append(
            f"{where}.scenario: must be a scenario code such as MECH-PINCH (got {scenario!r})"
        )
    else:
        fields["scenario"] = scenario
    top: Any = entry.get("max")
    if type(top) not in (int, float) or top <= 0:
        problems.append(f"{where}.max: must be the display's full score, above 0 (got {top!r})")
    else:
        fields["max"] = float(top)
    digits, decimals = entry.get("digits"), entry.get("decimals", 0)
    if type(digits) is not int or not 1 <= digits <= 8:
        problems.append(f"{where}.digits: must be 1 … 8 (got {digits!r})")
    elif type(decimals) is not int or not 0 <= decimals < digits:
        problems.append(f"{where}.decimals: must be 0 … {digits - 1} (got {decimals!r})")
    else:
        fields["digits"], fields["decimals"] = digits, decimals
    if "markers" not in entry and "corners" not in entry:
        problems.append(f"{where}: give markers (ArUco ids) or corners (a calibration), or both")
    if "markers" in entry:
        markers = _ints(entry["markers"], 4)
        if markers is None or len(set(markers)) != 4:
            problems.append(
                f"{where}.markers: must be four different ArUco ids, TL TR BR BL "
                f"(got {entry['markers']!r})"
            )
        else:
            fields["markers"] = markers
    if "corners" in entry:
        corners = _corners(entry["corners"])
        if corners is None:
            problems.append(
                f"{where}.corners: must be four [x, y] points, TL TR BR BL (got "
                f"{entry['corners']!r}); `safetrain camera calibrate` makes them"
            )
        else:
            fields["corners"] = corners
    lit = entry.get("lit", "auto")
    if lit not in LIT:
        problems.append(f"{where}.lit: must be one of {', '.join(LIT)} (got {lit!r})")
    else:
        fields["lit"] = lit
    dictionary = entry.get("dictionary", "DICT_4X4_50")
    if not isinstance(dictionary, str) or not dictionary.startswith("DICT_"):
        problems.append(
            f"{where}.dictionary: must name an ArUco dictionary such as DICT_4X4_50 "
            f"(got {dictionary!r})"
        )
    else:
        fields["dictionary"] = dictionary
    stable = entry.get("stable_frames", 5)
    if type(stable) is not int or not 2 <= stable <= 60:
        problems.append(f"{where}.stable_frames: must be 2 … 60 (got {stable!r})")
    else:
        fields["stable_frames"] = stable
    return fields


def needs_keys(entries: Any) -> bool:
    """Whether any [[camera]] table (checked or not) reads result QR codes."""
    return isinstance(entries, list) and any(
        isinstance(e, dict) and e.get("reads") == "qr" for e in entries
    )
