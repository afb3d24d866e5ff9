"""Tab completion through the real kernel, as a student presses it (part of `./course test`).

The kernel's patch answers course-lib's names from the index the set-up wrote
(tools/lib-index, scripts/kernel_lib.py): `Type::`, `module::`, a stored variable's `.` and its
fields' `.`, each within a second; anything else still goes to rust-analyzer (which loads at the
first such Tab: a few seconds). Each case names what must be among the matches.

Usage: tab_check.py   (after ./course setup; prints one line per case, exits 1 on a failure)
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from kernel_client import RustKernel  # noqa: E402
from warm_kernel import setup_cells  # noqa: E402

# (code before the cursor, names that must be offered, latency limit in seconds or None)
CASES = [
    ("ConvAeConfig::", {"new"}, 1.0),
    ("conv_ae::", {"ConvAeConfig"}, 1.0),
    ("course_lib::data::", {"FashionMnist", "load_fashion_mnist"}, 1.0),
    ("fashion.", {"train", "valid", "test"}, 1.0),
    ("fashion.train.", {"x", "y"}, 1.0),
    ("fashion.valid.x.", {"rows"}, 1.0),
    ("ae.", {"fit", "evaluate"}, 1.0),
    ("Mode::", {"from_env"}, 1.0),
    # Not course-lib's: rust-analyzer, as before the index (its first Tab loads it).
    ("Vec::", {"new"}, None),
    ("numbers.", {"len"}, None),
    # A prelude function where an expression starts: rust-analyzer's names and the index's.
    ("let f = load_fash", {"load_fashion_mnist"}, None),
]


def main():
    kernel = RustKernel(env={"COURSE_MODE": "quick"})
    failures = []
    try:
        for cell in setup_cells():
            kernel.run(cell)
        _, _, error = kernel.run(
            "let fashion: FashionMnist = load_fashion_mnist()?;\n"
            "let mut ae = LinearAeConfig::new().init(&training_device())?;\n"  # a type rustc names
            "let numbers: Vec<i32> = vec![1, 2, 3];")
        if error:
            sys.exit(f"the variables' cell failed: {error}")
        for code, wanted, limit in CASES:
            seconds, matches = kernel.complete(code)
            # rust-analyzer's matches carry their arguments (`new()`): names are compared.
            missing = wanted - {m.split("(")[0] for m in matches}
            slow = limit is not None and seconds > limit
            shown = ", ".join(matches[:8]) + (f", ... ({len(matches)} in all)" if len(matches) > 8 else "")
            print(f"  {code:<22} {seconds * 1000:7.0f} ms  {shown}")
            if missing:
                failures.append(f"Tab after `{code}` does not offer {', '.join(sorted(missing))} (offered: {shown})")
            if slow:
                failures.append(f"Tab after `{code}` took {seconds:.2f} s (at most {limit} s)")
    finally:
        kernel.close()
    if failures:
        print("\n".join(failures), file=sys.stderr)
        sys.exit(1)
    print(f"Tab completion: {len(CASES)} cases answered")


if __name__ == "__main__":
    main()
