"""libvips's side of benches/vs_libvips.rs: the same three variants (1600, 640, 160 px, never
upscaled, EXIF-rotated, JPEG Q85 progressive, metadata stripped) of each file, timed in-process
with pyvips, so no process start-up is counted. Two ways, and the faster one is libvips at its
best: `chain` decodes once with shrink-on-load and makes each variant from the one before (as we
do); `apart` makes each variant from the file with its own shrink-on-load (a thumbnail decodes at
1/8 scale).

usage: libvips.py ITERATIONS FILE...
prints one line per file and way: FILE WAY MEDIAN_SECONDS TOTAL_BYTES
"""
import statistics
import sys
import time

import pyvips

SAVE = dict(Q=85, interlace=True, strip=True)


def chain(data):
    large = pyvips.Image.thumbnail_buffer(data, 1600, size="down").copy_memory()
    medium = large.thumbnail_image(640, size="down").copy_memory()
    thumb = medium.thumbnail_image(160, size="down")
    return sum(len(image.jpegsave_buffer(**SAVE)) for image in (large, medium, thumb))


def apart(data):
    return sum(
        len(pyvips.Image.thumbnail_buffer(data, side, size="down").jpegsave_buffer(**SAVE)) for side in (1600, 640, 160)
    )


def main():
    iterations = int(sys.argv[1])
    for path in sys.argv[2:]:
        with open(path, "rb") as f:
            data = f.read()
        for way in (chain, apart):
            way(data)  # warm-up: libvips loads its operations on first use
            times = []
            for _ in range(iterations):
                start = time.perf_counter()
                size = way(data)
                times.append(time.perf_counter() - start)
            print(path, way.__name__, statistics.median(times), size, flush=True)


main()
