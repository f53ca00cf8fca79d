#!/usr/bin/env bash
# StyleGAN2-ADA on little data: the same small networks trained on the 243 shared faces without augmentation and
# with ADA, one CPU core each, side by side; then FID (1k generated images against all 243 faces) and D's view of
# the reals (benchmarks/d_overfitting.py) of the snapshots, on the same core when its run ends. Figures and grids:
# benchmarks/README.md, "Small data".
#
#   bash benchmarks/small_data_ada.sh [OUT]      # OUT default results/small_data_ada
#   KIMG=96 TICKS=3 bash benchmarks/small_data_ada.sh    # length, network snapshot (and FID) every TICKS ticks
#   RES=32 KIMG=400 TICKS=5 bash benchmarks/small_data_ada.sh    # demo-ada itself, at 32x32
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-results/small_data_ada}
KIMG=${KIMG:-48}
TICKS=${TICKS:-1}
RES=${RES:-64}
# gamma by the release's heuristic for RES, as demo-ada's config computes it; at 64x64 the networks are narrowed to
# fmap_max 64.
GAMMA=$(.venv/bin/python -c "import sys; from stylegan_tf.training.config.presets import demo_ada_config
print(demo_ada_config(int(sys.argv[1])).D_loss.kwargs['gamma'])" "$RES" 2>/dev/null)
WIDTH=(--gamma="$GAMMA")
if [ "$RES" = 64 ]; then WIDTH+=(--set=G_args.fmap_max=64 --set=D_args.fmap_max=64); fi
mkdir -p "$OUT"
# Writes the dataset once, before the two runs start (they would both try to).
.venv/bin/python -c "import sys; from stylegan_tf.dataset import demo
demo.ensure_faces_dataset(sys.argv[1], int(sys.argv[2]))" "$OUT/datasets/frl-faces-$RES" "$RES"
# Each run, then the FIDs of its snapshots, on its own core.
core=0
for aug in noaug ada; do
  (
    taskset -c $core .venv/bin/python train.py --config=demo-ada --aug=$aug --outdir="$OUT/$aug" \
      --data_dir="$OUT/datasets" --dataset=frl-faces-$RES --total_kimg="$KIMG" "${WIDTH[@]}" \
      --set=network_snapshot_ticks=$TICKS --set=image_snapshot_ticks=$TICKS --set=snapshot_keep=0 \
      --set=desc=small-data$RES-$aug > "$OUT/$aug.log" 2>&1
    for pkl in "$OUT/$aug"/*/network-snapshot-*.pkl; do
      echo "$aug $(basename "$pkl") $(taskset -c $core .venv/bin/python run_metrics.py --network="$pkl" \
        --metrics=fid50k --num_images=1000 --data_dir="$OUT/datasets" --dataset=frl-faces-$RES | grep "time .*fid")"
    done > "$OUT/$aug-fid.txt"
    taskset -c $core .venv/bin/python benchmarks/d_overfitting.py --dataset_dir="$OUT/datasets/frl-faces-$RES" \
      "$OUT/$aug"/*/network-snapshot-*.pkl > "$OUT/$aug-d.txt"
  ) &
  core=$((core + 1))
done
wait
cat "$OUT/noaug-fid.txt" "$OUT/ada-fid.txt" "$OUT/noaug-d.txt" "$OUT/ada-d.txt"
