"""Benchmark of the OCR engines that could read screenshot proofs: fields read right, seconds per
image and peak memory, side by side.

    .venv/bin/python bench/ocr.py                 # the whole set: 3 pages x 3 zooms x PNG and JPEG (~1-2 min)
    .venv/bin/python bench/ocr.py --quick         # one page

The test set is the test suite's own (tests/licenses/admin_center.py): an admin-center-like "Your
products" page with known plan, licenses, renewal or expiration date and tenant, drawn by Chromium
at 100%, 125% and 150% zoom, saved as PNG and as JPEG at quality 70. Each image is read as the
portal reads an upload, in a fresh child process per image (interpreter start and model loading
included), and its text goes through the portal's document check; a field counts as read right
when the check finds the value entered.

- **tesseract** is the portal's own reader (webapp.licenses.document_text.read_document): the
  sandboxed child with PROOF_TEXT_MAX_MEMORY_MB of address space, running the `tesseract` command.
- **rapidocr** (the `rapidocr-onnxruntime` package, if installed) runs in a child of the same kind
  here: the same memory limit, its boxes laid out by the same lay_out(). It is measured a second
  time without the memory limit, for its figures.

Goals: at least 95% of fields right, at most 3 s per image, peak memory within the reader's limit.

Then the staff preview's cost per document: the reader's time for a one-page PDF proof and for a
screenshot with and without the preview step (median of --repeat runs each), and the preview's size.
The wall-clock limit is lifted for the measurement (30 s) so that slow engines are timed, not
killed; the column "within PROOF_TEXT_SECONDS" counts the images read inside the portal's setting.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

FIELD_GOAL, SECONDS_GOAL = 0.95, 3.0


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one page of the three")
    parser.add_argument("--engines", default="tesseract,rapidocr,rapidocr-unlimited")
    parser.add_argument("--repeat", type=int, default=10, help="runs per document for the preview's cost")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # ENGINE DIRECTORY: in a process of its own
    parser.add_argument("--rapidocr-child", type=int, help=argparse.SUPPRESS)  # MEMORY_BYTES (0: none)
    return parser.parse_args(argv)


# --- rapidocr, in a child process like the portal's reader ---------------------------------------


def rapidocr_child(memory_bytes):
    """In the child: stdin's image read by RapidOCR; prints [[text, left, top, right, bottom], ...]."""
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    content = sys.stdin.buffer.read()
    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR(use_cls=False, intra_op_num_threads=1, inter_op_num_threads=1)
    result, _ = engine(content, use_cls=False)
    boxes = []
    for box, text, _score in result or []:
        xs, ys = [int(point[0]) for point in box], [int(point[1]) for point in box]
        boxes.append([text, min(xs), min(ys), max(xs), max(ys)])
    json.dump(boxes, sys.stdout)


def read_with_rapidocr(content, memory_bytes, seconds):
    from webapp.licenses.document_text import lay_out

    command = [sys.executable, "-I", __file__, "--rapidocr-child", str(memory_bytes)]
    try:
        finished = subprocess.run(command, input=content, capture_output=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        return None, "timed out"
    if finished.returncode != 0:
        last = (finished.stderr.decode(errors="replace").strip().splitlines() or ["failed"])[-1]
        return None, last[:100]
    # Each box is one line of its own: RapidOCR reads phrases, not words.
    return lay_out([[box] for box in json.loads(finished.stdout)]), None


# --- measuring one engine (in a process of its own, so its peak memory is its own) ---------------


def measure(engine, directory):
    from licenses.admin_center import SCREENS

    from config import Config
    from webapp.licenses.document_check import FOUND, clean_text, compare_terms
    from webapp.licenses.document_text import READ, Limits, read_document

    limits = Limits(pages=Config.PROOF_TEXT_MAX_PAGES, chars=Config.PROOF_TEXT_MAX_CHARS, seconds=30,
                    memory_bytes=Config.PROOF_TEXT_MAX_MEMORY_MB * 1024 * 1024)
    screens = {products.plan: products for products in SCREENS}
    results = []
    for image in sorted(Path(directory).glob("*.json")):
        meta = json.loads(image.read_text())
        content = image.with_suffix("." + meta["format"]).read_bytes()
        products = screens[meta["plan"]]
        started = time.monotonic()
        if engine == "tesseract":
            read = read_document(content, f"image/{meta['format']}", limits, steps=("text",))
            text, error = read.text, (None if read.status == READ else read.status)
        else:
            memory = 0 if engine == "rapidocr-unlimited" else limits.memory_bytes
            text, error = read_with_rapidocr(content, memory, limits.seconds)
        seconds = time.monotonic() - started
        right = 0
        if text is not None:
            comparison = compare_terms(clean_text(text, limits.chars), plan=products.plan, seats=products.seats,
                                       expires_on=products.expires_on, tenant=products.tenant)
            right = sum(field.state == FOUND for _, field in comparison.fields())
            missed = [name for name, field in comparison.fields() if field.state != FOUND]
        else:
            missed = ["all"]
        results.append({"image": meta["name"], "seconds": seconds, "right": right, "fields": 4,
                        "error": error, "missed": missed})
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    json.dump({"results": results, "peak_bytes": peak, "limit_bytes": limits.memory_bytes}, sys.stdout)


# --- the run -------------------------------------------------------------------------------------


def median(values):
    values = sorted(values)
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    if args.rapidocr_child is not None:
        return rapidocr_child(args.rapidocr_child)
    if args.measure:
        engine, directory = args.measure.split(":", 1)
        return measure(engine, directory)

    import tempfile

    from licenses.admin_center import SCREENS, screenshots

    from config import Config

    print(f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}; building the test set with Chromium ...")
    shots = screenshots(SCREENS[:1] if args.quick else SCREENS)
    summary = {}
    with tempfile.TemporaryDirectory(prefix="bench-ocr-") as directory:
        for number, shot in enumerate(shots):
            (Path(directory) / f"{number:03}.{shot.format}").write_bytes(shot.content)
            (Path(directory) / f"{number:03}.json").write_text(
                json.dumps({"name": shot.name, "plan": shot.products.plan, "format": shot.format}))
        for engine in args.engines.split(","):
            if engine.startswith("rapidocr") and subprocess.run(
                [sys.executable, "-c", "import rapidocr_onnxruntime"], capture_output=True
            ).returncode != 0:
                print(f"{engine}: not installed (pip install rapidocr-onnxruntime), skipped")
                continue
            print(f"{engine}: reading {len(shots)} images ...", flush=True)
            finished = subprocess.run([sys.executable, __file__, "--measure", f"{engine}:{directory}"],
                                      capture_output=True, text=True, check=True)
            summary[engine] = json.loads(finished.stdout)

    seconds_limit = Config.PROOF_TEXT_SECONDS
    print()
    print(f"{len(shots)} images ({'1 page' if args.quick else f'{len(SCREENS)} pages'} x 100/125/150% x PNG, JPEG q70); "
          f"goals: >= {FIELD_GOAL:.0%} fields right, <= {SECONDS_GOAL:g} s/image, peak <= the reader's "
          f"{Config.PROOF_TEXT_MAX_MEMORY_MB} MB")
    header = f"{'engine':<20}{'fields right':>14}{'s/image med':>13}{'s/image max':>13}{'peak MB':>9}" \
             f"{f'within {seconds_limit:g} s':>12}{'failed':>8}  goals"
    print(header)
    print("-" * len(header))
    for engine, outcome in summary.items():
        rows = outcome["results"]
        right, fields = sum(r["right"] for r in rows), sum(r["fields"] for r in rows)
        seconds = [r["seconds"] for r in rows]
        peak = outcome["peak_bytes"]
        failed = [r for r in rows if r["error"]]
        within = sum(1 for r in rows if r["seconds"] <= seconds_limit and not r["error"])
        goals = (right / fields >= FIELD_GOAL, median(seconds) <= SECONDS_GOAL and max(seconds) <= SECONDS_GOAL,
                 peak <= outcome["limit_bytes"] and not failed)
        print(f"{engine:<20}{right / fields:>13.1%}{median(seconds):>13.2f}{max(seconds):>13.2f}"
              f"{peak / 2**20:>9.0f}{within:>9}/{len(rows):<3}{len(failed):>7}  "
              + " ".join(("ok" if met else "MISSED") for met in goals))
        for row in rows:
            if row["error"] or row["missed"]:
                print(f"    {row['image']}: {row['error'] or 'missed ' + ', '.join(row['missed'])}")
    preview_cost(shots[2], args.repeat)
    print(f"\nload after: {os.getloadavg()[0]:.2f}")


def preview_cost(screenshot, repeat):
    """The reader's time with and without the preview step, per kind of document, and the preview's size."""
    from config import Config
    from webapp.cli.demo import demo_pdf
    from webapp.licenses.document_text import (
        ACTIVE,
        PREVIEW,
        TEXT,
        Limits,
        read_document,
    )

    limits = Limits(pages=Config.PROOF_TEXT_MAX_PAGES, chars=Config.PROOF_TEXT_MAX_CHARS, seconds=30,
                    memory_bytes=Config.PROOF_TEXT_MAX_MEMORY_MB * 1024 * 1024)
    pdf = demo_pdf("Office 365 E3 - 25 licenses - expires 31 December 2027 - contoso.onmicrosoft.com")
    documents = [("one-page PDF proof", pdf, "application/pdf"),
                 (f"screenshot ({screenshot.name})", screenshot.content, screenshot.media_type)]
    print(f"\nthe staff preview's cost per document (median of {repeat} reader runs each)")
    print(f"{'document':<48}{'without':>10}{'with':>10}{'preview':>10}{'preview size':>22}")
    for name, content, media_type in documents:
        timings = {}
        for label, steps in (("without", (ACTIVE, TEXT)), ("with", (ACTIVE, TEXT, PREVIEW))):
            runs = []
            for _ in range(repeat):
                started = time.monotonic()
                read = read_document(content, media_type, limits, steps=steps)
                runs.append(time.monotonic() - started)
            timings[label] = median(runs)
        preview = read.preview
        size = f"{len(preview.content) / 1024:.0f} KB {preview.width}x{preview.height}" if preview else "none"
        print(f"{name:<48}{timings['without']:>9.2f}s{timings['with']:>9.2f}s"
              f"{timings['with'] - timings['without']:>+9.2f}s{size:>22}")


if __name__ == "__main__":
    main()
