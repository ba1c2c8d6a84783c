"""Photo decoding (formats, EXIF, alpha, bounds) and face finding (none, one, two, small)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.errors import InvalidInput
from engine.media.image import find_face, load_photo, load_portrait
from tests.auxil.media_fixtures import astronaut, png_bomb, save_image


def test_jpeg_exif_orientation_is_honoured(tmp_path: Path) -> None:
    img = np.zeros((100, 200, 3), np.uint8)
    img[:, :100] = 255  # left half white
    pil = Image.fromarray(img)
    exif = pil.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    pil.save(tmp_path / "r.jpg", exif=exif.tobytes())
    out = load_photo(tmp_path / "r.jpg")
    assert out.shape == (200, 100, 3)
    assert out[:90].mean() > 200 and out[110:].mean() < 50  # white half now on top


def test_png_alpha_is_flattened_on_white(tmp_path: Path) -> None:
    rgba = np.zeros((80, 80, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:40, :, 3] = 255  # top half opaque red, bottom transparent
    out = load_photo(save_image(tmp_path / "a.png", rgba))
    assert tuple(out[10, 10]) == (255, 0, 0) and tuple(out[70, 10]) == (255, 255, 255)


@pytest.mark.parametrize("kind", ["webp", "gray", "png16", "bmp", "gif"])
def test_other_formats_become_rgb(kind: str, tmp_path: Path) -> None:
    base = astronaut()[::4, ::4]
    if kind == "webp":
        path = save_image(tmp_path / "x.webp", base)
    elif kind == "gray":
        path = save_image(tmp_path / "x.png", base.mean(axis=2).astype(np.uint8))
    elif kind == "png16":
        path = tmp_path / "x.png"
        Image.fromarray(base[..., 0].astype(np.uint16) * 257).save(path)
    elif kind == "bmp":
        path = save_image(tmp_path / "x.bmp", base)
    else:
        path = save_image(tmp_path / "x.gif", base)
    out = load_photo(path)
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert out.shape[0] % 2 == 0 and out.shape[1] % 2 == 0


def test_large_photos_are_scaled_to_the_working_size(tmp_path: Path) -> None:
    big = np.asarray(Image.fromarray(astronaut()).resize((2001, 1501)))
    out = load_photo(save_image(tmp_path / "big.jpg", big), working_size=1024)
    assert max(out.shape[:2]) <= 1024 and out.shape[0] % 2 == 0 and out.shape[1] % 2 == 0


@pytest.mark.parametrize("case", ["bomb", "huge", "tiny", "truncated", "text", "svg"])
def test_bad_photos_are_refused(case: str, tmp_path: Path) -> None:
    path = tmp_path / "p.png"
    if case == "bomb":
        png_bomb(path, 30_000, 30_000)
    elif case == "huge":
        png_bomb(path, 12_000, 8_000)  # 96 MP, over the 40 MP limit, under Pillow's own
    elif case == "tiny":
        save_image(path, np.zeros((10, 10, 3), np.uint8))
    elif case == "truncated":
        buf = io.BytesIO()
        Image.fromarray(astronaut()).save(buf, "JPEG")
        path = tmp_path / "t.jpg"
        path.write_bytes(buf.getvalue()[:3000])
    elif case == "text":
        path.write_text("not an image at all")
    else:
        path = tmp_path / "x.svg"
        path.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>')
    with pytest.raises(InvalidInput) as e:
        load_photo(path)
    assert e.value.field == "photo" and "\n" not in e.value.reason


def test_one_face_with_lips_on_the_mouth(sample_photo: Path) -> None:
    p = load_portrait(sample_photo)
    assert p.faces_found == 1 and p.warnings == () and p.landmarks.source == "mediapipe"
    # the astronaut's mouth is around (224, 145) in the 512 x 512 image
    cx, cy = p.landmarks.mouth_center
    assert abs(cx - 224) < 15 and abs(cy - 145) < 15
    assert 30 < p.landmarks.mouth_width < 70
    box = p.face
    assert box.x < cx < box.x + box.w and box.y < cy < box.y + box.h
    lips = p.landmarks.outer_lips
    assert lips[0, 0] == lips[:, 0].min()  # starts at the image-left corner


@pytest.mark.parametrize("case", ["noise", "flat", "coffee"])
def test_no_face_is_refused(case: str) -> None:
    from skimage import data

    rng = np.random.default_rng(1)
    image = {
        "noise": rng.integers(0, 255, (256, 256, 3), dtype=np.uint8),
        "flat": np.full((256, 256, 3), 128, np.uint8),
        "coffee": data.coffee()[:400, :600],
    }[case]
    with pytest.raises(InvalidInput, match="No face"):
        find_face(np.ascontiguousarray(image))


def test_two_faces_use_the_largest_and_warn() -> None:
    a = astronaut()
    small = np.asarray(Image.fromarray(a).resize((320, 320)))
    canvas = np.full((512, 832, 3), 200, np.uint8)
    canvas[:, :512] = a
    canvas[96:416, 512:] = small
    p = find_face(canvas)
    assert p.faces_found == 2 and any("2 faces" in w for w in p.warnings)
    assert p.landmarks.mouth_center[0] < 512  # the big face is on the left


def test_small_face_is_refused() -> None:
    small = np.asarray(Image.fromarray(astronaut()).resize((300, 300)))
    canvas = np.full((1000, 1000, 3), 90, np.uint8)
    canvas[350:650, 350:650] = small
    with pytest.raises(InvalidInput, match="too small"):
        find_face(canvas)
