"""The StyleGAN3 release's own generator speed on the CPU, beside `bench_generator.py --family=stylegan3-t`
(same configs, random weights). Run it with a Python that has torch (never a dependency of this project)
and the release extracted at `--orig` (`git --git-dir=<mirror> archive HEAD | tar -x -C DIR`); off CUDA
the release computes `filtered_lrelu` with its reference path, in float32:

    python benchmarks/bench_stylegan3_original.py --orig DIR --configs=t,r --resolution=256 --batch_sizes=1,4
"""

import argparse
import os
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orig", required=True, help="extracted NVlabs/stylegan3")
    parser.add_argument("--configs", default="t,r")
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--batch_sizes", default="1,4")
    parser.add_argument("--min_seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    sys.path.insert(0, os.path.abspath(args.orig))
    import torch
    from training import networks_stylegan3
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for config in args.configs.split(","):
        r_config = dict(conv_kernel=1, channel_base=65536, channel_max=1024, use_radial_filters=True)
        extra = r_config if config == "r" else {}
        G = networks_stylegan3.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=args.resolution, img_channels=3,
                                         **extra).eval().requires_grad_(False)
        for batch in map(int, args.batch_sizes.split(",")):
            z = torch.randn([batch, 512])
            with torch.no_grad():
                start = time.perf_counter()
                G(z, None, truncation_psi=0.7)
                warmup = time.perf_counter() - start
                runs, start = 0, time.perf_counter()
                while runs < 3 or time.perf_counter() - start < args.min_seconds:
                    G(z, None, truncation_psi=0.7)
                    runs += 1
            rate = runs * batch / (time.perf_counter() - start)
            print(f"stylegan3-{config} {args.resolution} batch {batch}: {rate:.3f} img/s (warm-up {warmup:.1f} s)",
                  flush=True)


if __name__ == "__main__":
    main()
