#!/bin/sh
# Vispyr profiling for "{{SERVICE}}", written by `vispyr init dotnet`.
#
# Starts a .NET app with the Pyroscope .NET profiler (a CLR profiler: CPU,
# wall-clock, allocation, lock and exception profiles pushed to {{SERVER}}).
# Traces, metrics and logs come from VispyrTelemetry.cs. Use it in front of the
# usual command:
#
#   ./vispyr-dotnet.sh dotnet MyApp.dll
#
# Environment overrides: OTEL_SERVICE_NAME, VISPYR_URL, VISPYR_PYROSCOPE_DIR (the
# folder with Pyroscope.Profiler.Native.so and Pyroscope.Linux.ApiWrapper.x64.so;
# default: pyroscope-dotnet next to this script); every PYROSCOPE_* setting.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
profiler_dir=${VISPYR_PYROSCOPE_DIR:-$here/pyroscope-dotnet}
for library in Pyroscope.Profiler.Native.so Pyroscope.Linux.ApiWrapper.x64.so; do
  if [ ! -f "$profiler_dir/$library" ]; then
    echo "vispyr-dotnet.sh: $profiler_dir/$library is missing; download it as \`vispyr init dotnet\` shows" >&2
    exit 1
  fi
done

export OTEL_SERVICE_NAME="${OTEL_SERVICE_NAME:-{{SERVICE}}}"
export CORECLR_ENABLE_PROFILING=1
export CORECLR_PROFILER="{BD1A650D-AC5D-4896-B64F-D6FA25D6B26A}"
export CORECLR_PROFILER_PATH="$profiler_dir/Pyroscope.Profiler.Native.so"
export LD_PRELOAD="$profiler_dir/Pyroscope.Linux.ApiWrapper.x64.so${LD_PRELOAD:+:$LD_PRELOAD}"
export PYROSCOPE_PROFILING_ENABLED=1
export PYROSCOPE_APPLICATION_NAME="${PYROSCOPE_APPLICATION_NAME:-$OTEL_SERVICE_NAME}"
export PYROSCOPE_SERVER_ADDRESS="${PYROSCOPE_SERVER_ADDRESS:-${VISPYR_URL:-{{SERVER}}}}"
export PYROSCOPE_PROFILING_CPU_ENABLED="${PYROSCOPE_PROFILING_CPU_ENABLED:-true}"
export PYROSCOPE_PROFILING_WALLTIME_ENABLED="${PYROSCOPE_PROFILING_WALLTIME_ENABLED:-true}"
export PYROSCOPE_PROFILING_ALLOCATION_ENABLED="${PYROSCOPE_PROFILING_ALLOCATION_ENABLED:-true}"
export PYROSCOPE_PROFILING_LOCK_ENABLED="${PYROSCOPE_PROFILING_LOCK_ENABLED:-true}"
export PYROSCOPE_PROFILING_EXCEPTION_ENABLED="${PYROSCOPE_PROFILING_EXCEPTION_ENABLED:-true}"

exec "$@"
