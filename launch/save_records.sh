#!/usr/bin/env bash
# Tar a GPU host's records into DIR/records.tar.gz, replacing the previous tarball only once the new one is whole.
# No checkpoints (hundreds of MB a run, more than a lent machine's command returns), no claims, no Hydra folders:
# what the next session resumes from. Used by gpu_slice.sh and gpu_session.sh.
#   bash launch/save_records.sh DIR     (from the checkout, whose results/ it saves)
set -u
[ $# -eq 1 ] && [ -d "$1" ] || { echo "usage: bash launch/save_records.sh DIR (an existing folder)" >&2; exit 2; }
err=$(mktemp)
tar czf "$1/records.tmp.tar.gz" --exclude=.hydra --exclude=.claims --exclude=checkpoint.pt results 2>"$err"
rc=$?
# 1: a file vanished or changed while tar read it (a live sweep's temporary file of an atomic write): every
# record in the tarball is still whole (records are replaced by a rename, never rewritten in place)
if [ $rc -le 1 ]; then mv "$1/records.tmp.tar.gz" "$1/records.tar.gz"; rc=0
else echo "save_records: tar failed (exit $rc): $(tail -1 "$err")" >&2; rm -f "$1/records.tmp.tar.gz"; fi
rm -f "$err"
exit $rc
