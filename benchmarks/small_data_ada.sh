#!/usr/bin/env bash
# StyleGAN2-ADA on little data: the same small StyleGAN2 trained on the 243 shared faces at 64x64
# without augmentation and with ADA, one CPU core each, side by side; then FID (1k generated images
# against all 243 faces) of the snapshots. Figures and grids: benchmarks/README.md, "Small data".
#
#   bash benchmarks/small_data_ada.sh [OUT]      # OUT default results/small_data_ada
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-results/small_data_ada}
KIMG=${KIMG:-48}
mkdir -p "$OUT"
# Writes the 64x64 dataset once, before the two runs start (they would both try to).
.venv/bin/python -c "import sys; from stylegan_tf.dataset import demo; demo.ensure_faces_dataset(sys.argv[1], 64)" \
  "$OUT/datasets/frl-faces-64"
core=0
for aug in noaug ada; do
  taskset -c $core .venv/bin/python train.py --config=demo-ada --aug=$aug --outdir="$OUT/$aug" \
    --data_dir="$OUT/datasets" --dataset=frl-faces-64 --total_kimg="$KIMG" --set=D_loss.kwargs.gamma=0.0256 \
    --set=G_args.fmap_max=64 --set=D_args.fmap_max=64 --set=network_snapshot_ticks=1 \
    --set=image_snapshot_ticks=2 --set=snapshot_keep=0 --set=desc=small-data-$aug > "$OUT/$aug.log" 2>&1 &
  core=$((core + 1))
done
wait
for aug in noaug ada; do
  for pkl in "$OUT/$aug"/*/network-snapshot-*.pkl; do
    echo "$aug $(basename "$pkl")"
    .venv/bin/python run_metrics.py --network="$pkl" --metrics=fid50k --num_images=1000 \
      --data_dir="$OUT/datasets" --dataset=frl-faces-64 | grep -i fid
  done
done
