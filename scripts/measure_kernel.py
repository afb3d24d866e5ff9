"""Times the notebook loop through the real kernel: a notebook's set-up cells right after the
set-up command, the first cell that stores a variable, and the median of ten trivial cells; then
the kernel's memory (both processes) after a lesson's first cells, and what Tab completes in a
few places a student presses it, with its latency.

Usage: measure_kernel.py   (run ./course setup first; prints one line per measurement)
"""
import statistics

from kernel_client import RustKernel
from warm_kernel import setup_cells


def main():
    kernel = RustKernel(env={"COURSE_MODE": "quick"})
    try:
        for cell in setup_cells():
            seconds, _, error = kernel.run(cell)
            print(f"set-up cell (use course_lib::prelude):{seconds:6.1f} s" + (f"  ERROR {error}" if error else ""))
        seconds, _, error = kernel.run("let mode: Mode = Mode::from_env();")
        print(f"first cell storing a variable:        {seconds:6.1f} s" + (f"  ERROR {error}" if error else ""))
        trivial = []
        for i in range(10):
            seconds, _, error = kernel.run(f"let x{i}: i32 = {i} + 1;")
            trivial.append(seconds)
        print(f"trivial cells (10), median:           {statistics.median(trivial):6.2f} s  (min {min(trivial):.2f}, max {max(trivial):.2f})")
        seconds, out, error = kernel.run("let toy: Matrix = toy_3d_data(4);\nlet mut ae: linear_ae::LinearAe = LinearAeConfig::new().init(&training_device())?;\nlet h: History = ae.fit(Data::autoencoder(&toy), None, &linear_ae::fit_config(1.5).with_verbose(false))?;\nprintln!(\"{:.3} ms per epoch\", 1000.0 * h.seconds.iter().sum::<f64>() / h.seconds.len() as f64);")
        print(f"toy model, 20 epochs (whole cell):    {seconds:6.1f} s; inside the kernel: {out.strip()}" + (f"  ERROR {error}" if error else ""))
        # A student's `let` without a type: rustc infers it and the running cell names it (the
        # set-up's evcxr patch); the next cell then reads the variable back by that name.
        seconds, _, error = kernel.run("let untyped = toy_3d_data(4);")
        print(f"untyped course-lib variable:          {seconds:6.1f} s" + (f"  ERROR {error}" if error else ""))
        seconds, out, error = kernel.run("untyped.rows()")
        print(f"next cell reading it:                 {seconds:6.1f} s  ({out.strip()} rows)" + (f"  ERROR {error}" if error else ""))
        # A lesson's first cells: the data loaded (the running process's floor is its pixels).
        seconds, _, error = kernel.run("let fashion: FashionMnist = load_fashion_mnist()?;\nlet numbers: Vec<i32> = vec![1, 2, 3];")
        print(f"loading Fashion-MNIST:                {seconds:6.1f} s" + (f"  ERROR {error}" if error else ""))
        for pid, name, rss, pss in kernel.memory():
            print(f"memory: {name} (pid {pid}): {rss:6.0f} MB resident, {pss:6.0f} MB proportional")
        for code in ["fashion.", "fashion.train.", "ConvAeConfig::", "load_fash", "fash", "numbers.", "numbers.it", "std::collections::Hash", "Vec::"]:
            seconds, matches = kernel.complete(code)
            shown = ", ".join(matches[:8]) + (f", ... ({len(matches)} in all)" if len(matches) > 8 else "")
            print(f"Tab after {code!r:28} {seconds:5.2f} s: {shown or '(nothing)'}")
    finally:
        kernel.close()


if __name__ == "__main__":
    main()
