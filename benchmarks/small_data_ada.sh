#!/usr/bin/env bash
# StyleGAN2-ADA on little data: the same small networks (demo-ada's) trained on the 243 shared faces at 64x64
# without augmentation and with ADA, one CPU core each, side by side; then FID (1k generated images
# against all 243 faces) of the snapshots, on the same core when its run ends. Figures and grids:
# benchmarks/README.md, "Small data".
#
#   bash benchmarks/small_data_ada.sh [OUT]      # OUT default results/small_data_ada
#   KIMG=96 TICKS=3 bash benchmarks/small_data_ada.sh    # length, network snapshot (and FID) every TICKS ticks
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-results/small_data_ada}
KIMG=${KIMG:-48}
TICKS=${TICKS:-1}
mkdir -p "$OUT"
# Writes the 64x64 dataset once, before the two runs start (they would both try to).
.venv/bin/python -c "import sys; from stylegan_tf.dataset import demo; demo.ensure_faces_dataset(sys.argv[1], 64)" \
  "$OUT/datasets/frl-faces-64"
# Each run, then the FIDs of its snapshots, on its own core.
core=0
for aug in noaug ada; do
  (
    taskset -c $core .venv/bin/python train.py --config=demo-ada --aug=$aug --outdir="$OUT/$aug" \
      --data_dir="$OUT/datasets" --dataset=frl-faces-64 --total_kimg="$KIMG" --set=D_loss.kwargs.gamma=0.0256 \
      --set=G_args.fmap_max=64 --set=D_args.fmap_max=64 --set=network_snapshot_ticks=$TICKS \
      --set=image_snapshot_ticks=2 --set=snapshot_keep=0 --set=desc=small-data-$aug > "$OUT/$aug.log" 2>&1
    for pkl in "$OUT/$aug"/*/network-snapshot-*.pkl; do
      echo "$aug $(basename "$pkl") $(taskset -c $core .venv/bin/python run_metrics.py --network="$pkl" \
        --metrics=fid50k --num_images=1000 --data_dir="$OUT/datasets" --dataset=frl-faces-64 | grep -i fid)"
    done > "$OUT/$aug-fid.txt"
  ) &
  core=$((core + 1))
done
wait
cat "$OUT/noaug-fid.txt" "$OUT/ada-fid.txt"
