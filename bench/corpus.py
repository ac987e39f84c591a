"""Make a deterministic benchmark corpus: N files over nested directories."""

from __future__ import annotations

import argparse
import os
import random

# Names with spaces and non-ASCII letters, as users upload them.
WORDS = ["photo", "Résumé", "holiday pics", "données", "日本", "report", "ünïcode", "a b c", "thumb", "x"]
EXTENSIONS = [".jpg", ".png", ".css", ".js", ".pdf", ".txt"]


def file_size(rng: random.Random, small: bool) -> int:
    """A realistic mix: mostly small assets, some images, a few large documents."""
    if small:
        return rng.randint(0, 512)
    roll = rng.random()
    if roll < 0.70:
        return rng.randint(1_000, 20_000)
    if roll < 0.95:
        return rng.randint(20_000, 200_000)
    return rng.randint(200_000, 2_000_000)


def make_corpus(root: str, count: int, *, small: bool = False, seed: int = 1, per_dir: int = 100) -> int:
    """Write count files under root; return the total bytes written."""
    rng = random.Random(seed)
    block = rng.randbytes(1 << 16)
    total = 0
    for index in range(count):
        directory = os.path.join(
            root,
            f"{WORDS[(index // (per_dir * 100)) % len(WORDS)]} {index // (per_dir * 100)}",
            f"d{(index // per_dir) % 100:02d}",
        )
        if index % per_dir == 0:
            os.makedirs(directory, exist_ok=True)
        name = f"{rng.choice(WORDS)}-{index}{rng.choice(EXTENSIONS)}"
        size = file_size(rng, small)
        with open(os.path.join(directory, name), "wb") as handle:
            remaining = size
            # Vary the content per file so checksums differ.
            handle.write(index.to_bytes(8, "little"))
            remaining -= min(8, remaining)
            while remaining > 0:
                piece = block[: min(remaining, len(block))]
                handle.write(piece)
                remaining -= len(piece)
        total += size
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root")
    parser.add_argument("count", type=int)
    parser.add_argument("--small", action="store_true", help="Tiny files only, for metadata-bound runs.")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.makedirs(args.root, exist_ok=True)
    total = make_corpus(args.root, args.count, small=args.small, seed=args.seed)
    print(f"{args.count} files, {total / 1e6:.1f} MB under {args.root}")


if __name__ == "__main__":
    main()
