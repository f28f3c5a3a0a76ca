"""Examples from files: CSV tables, and images grouped by class (a folder with a subfolder per
class, or files named per class, as paths or as the bytes of an upload).

Every image is decoded with Pillow, turned upright (EXIF), made RGB and fitted to one size, so
they stack into one array: the first image's size, shrunk so that its longer side is at most
`MAX_SIDE` (a phone photo would otherwise cost ~140 MB as floats), other shapes centre-cropped to
it rather than squashed. Anything unreadable raises a DataError naming the file.
"""

import io
import os
from pathlib import Path

import numpy as np

from ..errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
MAX_SIDE = 224


def read_csv(source, name=None):
    """A pandas DataFrame from a CSV path or the bytes of an uploaded file (UTF-8, else latin-1)."""
    import pandas as pd

    is_bytes = isinstance(source, (bytes, bytearray, memoryview))
    label = name or ("the uploaded file" if is_bytes else str(source))
    if not is_bytes and not Path(source).is_file():
        raise DataError(f"No CSV file at {source}. Check the path.")
    frame = None
    for encoding in ("utf-8", "latin-1"):
        try:
            frame = pd.read_csv(io.BytesIO(bytes(source)) if is_bytes else source, encoding=encoding)
            break
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
            raise DataError(f"{label} is not a readable CSV table: {str(error).strip()}. "
                            "Save it as comma-separated text with a header row.") from None
    if frame is None or frame.shape[1] < 2:
        raise DataError(f"{label} has {0 if frame is None else frame.shape[1]} column(s): a CSV for training needs a "
                        "header row with a text column and a label column.")
    return frame


def image_folder(folder):
    """{class: [image paths]} for a folder with one subfolder of images per class."""
    folder = Path(folder)
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{folder} has no class subfolders: put each class's images in a folder named after it.")
    found = {name: [path for path in sorted((folder / name).iterdir())
                    if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")]
             for name in classes}
    if not any(found.values()):
        raise DataError(f"No images ({', '.join(IMAGE_SUFFIXES)}) in the class folders of {folder}.")
    return found


def decode_images(files_by_class, max_side=MAX_SIDE):
    """(N×H×W×3 float32 array in 0–255, labels, class names) from {class: [image, ...]}."""
    if not files_by_class or not any(files_by_class.values()):
        raise DataError("There are no images: add pictures to at least two classes.")
    empty = [str(name) for name, items in files_by_class.items() if not items]
    if empty:
        raise DataError(f"No images in class {empty[0]!r}: add some, or leave the class out.")
    images, labels, size = [], [], None
    for name, items in files_by_class.items():
        for item in items:
            image = _open(item, name)
            size = size or _target_size(image.size, max_side)
            images.append(np.asarray(_fit(image, size), dtype="float32"))
            labels.append(str(name))
    return np.stack(images), labels, tuple(str(name) for name in files_by_class)


def _open(item, class_name):
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(item, tuple):
        file_name, content = item
    elif isinstance(item, (bytes, bytearray, memoryview)):
        file_name, content = "an uploaded image", item
    else:
        file_name, content = os.fspath(item), None
    try:
        image = Image.open(io.BytesIO(bytes(content)) if content is not None else file_name)
        image.load()
        return ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, ValueError, SyntaxError) as error:  # Pillow's UnidentifiedImageError is an OSError
        reason = "" if isinstance(error, UnidentifiedImageError) else f" ({error})"
        raise DataError(f"{Path(file_name).name} (class {class_name!r}) is not an image that can be read{reason}. "
                        f"Remove it, or save it as PNG or JPEG.") from None


def _target_size(size, max_side):
    width, height = size
    scale = min(1.0, max_side / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _fit(image, size):
    from PIL import ImageOps

    return image if image.size == size else ImageOps.fit(image, size)
