#!/usr/bin/env bash
# scripts/demo against this build, so the demo cannot rot: kvd protected,
# keys written, primary killed -9, keys read back from the backup.
: "${REMUS_BUILD:?run through ctest}" "${REMUS_SRC:?}"
if [ "$(id -u)" != 0 ]; then
	echo "SKIP: the demo needs root"
	exit 77
fi
DEMO_BUILD=$REMUS_BUILD REMUS_SETUP_SKIP=1 exec bash "$REMUS_SRC/scripts/demo"
