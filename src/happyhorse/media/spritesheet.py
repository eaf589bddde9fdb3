"""A sprite sheet of a video: frames sampled evenly across it, in one JPEG grid.

The OpenAI surface's ``download_content(variant="spritesheet")`` (SPEC §9).
The grid is fixed: :data:`COLUMNS` × :data:`ROWS` tiles (10 frames), the first
tile the first frame, the last tile the last frame, the others evenly spaced
between, read left to right then top to bottom. Each tile is :data:`TILE_WIDTH`
pixels wide and as high as the video's aspect ratio makes it (rounded to even),
so a 1280×720 video gives a 1280×288 sheet of 256×144 tiles.
"""

from __future__ import annotations

import io
import os

from PIL import Image

COLUMNS, ROWS = 5, 2
TILE_WIDTH = 256
SPRITE_QUALITY = 85


def tile_size(width: int, height: int) -> tuple[int, int]:
    """One tile's size for a ``width`` × ``height`` video."""
    return TILE_WIDTH, max(2, round(TILE_WIDTH * height / width / 2) * 2)


def sheet_size(width: int, height: int) -> tuple[int, int]:
    """The sprite sheet's size for a ``width`` × ``height`` video."""
    tile_width, tile_height = tile_size(width, height)
    return tile_width * COLUMNS, tile_height * ROWS


def sprite_sheet(path: str | os.PathLike[str]) -> bytes:
    """The sprite sheet of the MP4 at ``path``, as JPEG bytes. Decodes the video once,
    keeping only the sampled frames."""
    import av

    count = COLUMNS * ROWS
    picked: list[Image.Image] = []
    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        total = stream.frames or 1
        wanted = [round(i * (total - 1) / (count - 1)) for i in range(count)]
        tile = tile_size(width, height)
        for index, frame in enumerate(container.decode(stream)):
            while len(picked) < count and wanted[len(picked)] == index:
                picked.append(frame.to_image().resize(tile, Image.Resampling.BILINEAR))
            if len(picked) == count:
                break
    if not picked:
        raise ValueError(f"{os.fspath(path)} has no video frames")
    while len(picked) < count:  # the container counted more frames than it holds
        picked.append(picked[-1])
    sheet = Image.new("RGB", sheet_size(width, height))
    for i, image in enumerate(picked):
        sheet.paste(image, ((i % COLUMNS) * tile[0], (i // COLUMNS) * tile[1]))
    buffer = io.BytesIO()
    sheet.save(buffer, format="JPEG", quality=SPRITE_QUALITY)
    return buffer.getvalue()
