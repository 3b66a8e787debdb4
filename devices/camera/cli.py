"""`safetrain camera …`: tools for the station cameras — calibrating a rig's display camera.

OpenCV and the readers are imported inside the commands, so that `safetrain --help` stays quick.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_BAD_INPUT = 2
EXIT_UNREADABLE = 1

camera_app = typer.Typer(
    help="摄像头 / Station cameras: calibrate a rig's display camera; the pods' QR keys.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@camera_app.callback()
def _group() -> None:
    """摄像头 / Station cameras: calibrate a rig's display camera; the pods' QR keys."""


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    err.print(message, style="red", markup=False)
    return typer.Exit(code)


def _markers(text: str) -> tuple[int, int, int, int]:
    try:
        ids = tuple(int(part) for part in text.replace(" ", "").split(","))
    except ValueError:
        raise _fail(
            f"--markers {text!r}: 应为四个以逗号分隔的编号 / expected four comma-separated ids, "
            "e.g. 0,1,2,3 (TL,TR,BR,BL)"
        ) from None
    if len(ids) != 4:
        raise _fail(
            f"--markers {text!r}: 需要四个编号，得到 {len(ids)} 个 / four ids are needed "
            f"(TL,TR,BR,BL), got {len(ids)}"
        )
    return (ids[0], ids[1], ids[2], ids[3])


@camera_app.command("calibrate")
def calibrate_command(
    image: Annotated[
        Path | None,
        typer.Option(help="摄像头快照 / A snapshot from the camera (PNG or JPEG).", dir_okay=False),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            help="或从摄像头取一帧 / Or grab one frame from this camera URL (cam://0, rtsp://…)."
        ),
    ] = None,
    corners: Annotated[
        str | None,
        typer.Option(
            help="窗口四角 / The window's corners in the snapshot's pixels, \"x1,y1 x2,y2 x3,y3 "
            'x4,y4" in the order top-left, top-right, bottom-right, bottom-left.'
        ),
    ] = None,
    markers: Annotated[
        str | None,
        typer.Option(help="ArUco 标记编号 / The markers' ids TL,TR,BR,BL, e.g. 0,1,2,3."),
    ] = None,
    digits: Annotated[int, typer.Option(help="位数 / Digits on the display.")] = 3,
    decimals: Annotated[int, typer.Option(help="小数位 / Digits after the decimal point.")] = 0,
    lit: Annotated[str, typer.Option(help="LED 颜色 / red, green or auto.")] = "auto",
    out_path: Annotated[
        Path,
        typer.Option("--out", help="叠加图 / Where to write the overlay PNG.", dir_okay=False),
    ] = Path("overlay.png"),
    station: Annotated[
        str, typer.Option(help="站点代码 / The station code for the printed camera table.")
    ] = "RIG-01",
    scenario: Annotated[
        str | None, typer.Option(help="场景代码 / The scenario the rig's runs are scored under.")
    ] = None,
    full_score: Annotated[
        float, typer.Option("--max", help="满分 / The display's full score.")
    ] = 100,
) -> None:
    """标定数码管摄像头 / Check a rig display's corners or markers on one snapshot.

    Reads the display once through the given corners (and/or through the markers), writes an overlay PNG (the window's outline, the digit cells, every sampled point, the markers found, the warped window) and prints the camera table to paste into stations.toml.

    角点无法用鼠标点选：服务器的 OpenCV 为无界面版本。请用任意看图软件打开快照，读出显示窗四角的像素坐标，用 --corners 给出。 / The corners cannot be clicked: the server's OpenCV is the headless build, without windows. Open the snapshot in any image viewer, note the pixel positions of the window's four corners and give them with --corners.

    Exit 2 if the corners or options are refused, 1 if the display cannot be read through them.
    """
    import cv2

    from devices.camera.calibrate import CalibrationError, calibrate, grab_frame
    from devices.camera.sevenseg import parse_corners

    if (image is None) == (source is None):
        raise _fail("请给出 --image 或 --source 之一 / give exactly one of --image and --source")
    if lit not in ("red", "green", "auto"):
        raise _fail(f"--lit {lit!r}: 须为 red、green 或 auto / must be red, green or auto")
    try:
        points = parse_corners(corners) if corners is not None else None
    except ValueError as exc:
        raise _fail(f"--corners: {exc}") from None
    ids = _markers(markers) if markers is not None else None
    try:
        if image is not None:
            snapshot = cv2.imread(str(image), cv2.IMREAD_COLOR)
            if snapshot is None:
                raise _fail(f"{image}: 无法读取图像 / cannot read the image")
            where = str(image)
        else:
            assert source is not None
            snapshot = grab_frame(source)
            where = source
        result = calibrate(
            snapshot,
            digits=digits,
            decimals=decimals,
            corners=points,
            markers=ids,
            lit=lit,  # type: ignore[arg-type]  # checked above
        )
    except CalibrationError as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:  # a camera that cannot be opened
        raise _fail(f"{source}: {exc}") from None

    h, w = snapshot.shape[:2]
    out.print(f"快照 / snapshot: {where} ({w}×{h})", markup=False)
    if result.by_markers is not None and result.spec.markers is not None:
        found = sorted(result.by_markers.markers)
        out.print(
            f"找到标记 / markers found: {', '.join(map(str, found)) or '无 none'}"
            + (
                f"; 缺少 / missing: {', '.join(map(str, result.missing_markers))}"
                if result.missing_markers
                else ""
            ),
            markup=False,
        )
    readable = False
    for label, inspection in (
        ("角点 corners", result.by_corners),
        ("标记 markers", result.by_markers),
    ):
        if inspection is None:
            continue
        out.print(
            f"经{label} / through the {label.split()[1]}: {inspection.reading.message}",
            markup=False,
        )
        readable = readable or inspection.reading.state != "unreadable"
        if inspection.reading.state == "blank":
            out.print(
                "显示屏熄灭，无法核对读数；请点亮后再试 / the display is blank: light it to "
                "check the reading",
                markup=False,
            )
    if not cv2.imwrite(str(out_path), result.overlay):
        raise _fail(f"{out_path}: 无法写入叠加图 / cannot write the overlay")
    out.print(f"叠加图 / overlay: {out_path}", markup=False)
    if not readable:
        raise _fail(
            "无法读取显示屏，请检查叠加图中的角点与数字格 / the display cannot be read: check the "
            "corners and digit cells on the overlay",
            EXIT_UNREADABLE,
        )
    out.print("\n# 粘贴到 stations.toml / paste into stations.toml", markup=False)
    out.print(
        "[[camera]]\n"
        f'station = "{station}"\n'
        f'url = "{source or "cam://0"}"\n'
        'reads = "7seg"\n'
        + (
            f'scenario = "{scenario}"\n'
            if scenario
            else '# scenario = "…"  # 填写该站的场景代码 / fill in the scenario code (--scenario)\n'
        )
        + f"max = {full_score:g}\n"
        + result.spec.toml_keys(),
        markup=False,
    )


keys_app = typer.Typer(
    help="结果二维码密钥 / The VR pods' result-QR keys (a TOML file outside the repository).",
    no_args_is_help=True,
)
camera_app.add_typer(keys_app, name="keys")

KeyFileOption = Annotated[
    Path,
    typer.Option("--file", help="密钥文件 / The key file, e.g. /etc/safetrain/device-keys.toml."),
]


def _fingerprint(key: bytes) -> str:
    import hashlib

    return hashlib.sha256(key).hexdigest()[:12]


@keys_app.command("add")
def keys_add(
    devices: Annotated[list[str], typer.Argument(help="设备编号 / Device codes, e.g. VR-07.")],
    file: KeyFileOption,
    replace: Annotated[
        bool, typer.Option(help="替换已有密钥 / Replace keys the devices already have.")
    ] = False,
) -> None:
    """新建密钥 / Give each device a fresh random key (the file is created with mode 0600)."""
    from devices.camera.keys import KeyFileError, generate

    try:
        keys = generate(file, devices, replace=replace)
    except KeyFileError as exc:
        raise _fail(str(exc)) from exc
    for dev in devices:
        out.print(f"{dev}  {_fingerprint(keys[dev])}", markup=False)
    out.print(
        f"已写入 / written: {file}. 用 `safetrain camera keys show` 取出密钥装入设备 / load each "
        "key into its pod with `safetrain camera keys show`",
        markup=False,
    )


@keys_app.command("list")
def keys_list(file: KeyFileOption) -> None:
    """列出设备 / The devices in the key file and each key's fingerprint (never the key)."""
    from devices.camera.keys import DeviceKeys, KeyFileError

    try:
        keys = DeviceKeys.load(file)
    except KeyFileError as exc:
        raise _fail(str(exc)) from exc
    for dev in sorted(keys):
        out.print(f"{dev}  {_fingerprint(keys[dev])}", markup=False)


@keys_app.command("show")
def keys_show(
    device: Annotated[str, typer.Argument(help="设备编号 / The device code.")],
    file: KeyFileOption,
) -> None:
    """显示密钥 / Print one device's key (base64url), to load into the pod; keep it secret."""
    from devices.camera.keys import DeviceKeys, KeyFileError, encode_key

    try:
        keys = DeviceKeys.load(file)
    except KeyFileError as exc:
        raise _fail(str(exc)) from exc
    key = keys.get(device)
    if key is None:
        raise _fail(f"{file}: 没有设备 {device} 的密钥 / no key for device {device}")
    out.print(encode_key(key), markup=False)
