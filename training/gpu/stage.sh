#!/bin/sh
# training/gpu/stage.sh hide|restore — the device tool sends the working tree (at most 64 MiB,
# tracked files included). The GPU run needs the code and the pack, not the shipped models or the
# demo song (~57 MiB), so `hide` untracks them for the call (files stay on disk, git ignores them
# through .git/info/exclude) and `restore` puts the index and the exclude file back.
# Commit nothing between the two: a commit made then would record the models as deleted.
set -e
cd "$(git rev-parse --show-toplevel)"
BIG="models/checkpoints/hybrid.pt models/checkpoints/unet.pt models/hybrid.onnx models/unet.onnx
assets/demo/bass.flac assets/demo/drums.flac assets/demo/mixture.flac assets/demo/other.flac
assets/demo/vocals.flac"
EXCL=.git/info/exclude
case "$1" in
hide)
    # shellcheck disable=SC2086
    git rm -q --cached $BIG
    mkdir -p .git/info && touch "$EXCL"
    printf '/models/checkpoints/*.pt\n/models/*.onnx\n/assets/demo/*.flac\n' >>"$EXCL"
    echo "bytes that travel (plus carried paths):"
    git ls-files -co --exclude-standard | tr '\n' '\0' | xargs -0 du -cb | tail -1
    ;;
restore)
    # shellcheck disable=SC2086
    git reset -q HEAD -- $BIG
    sed -i '\#^/models/checkpoints/\*\.pt$#d; \#^/models/\*\.onnx$#d; \#^/assets/demo/\*\.flac$#d' "$EXCL"
    git status --short
    ;;
*)
    echo "usage: $0 hide|restore" >&2
    exit 2
    ;;
esac
