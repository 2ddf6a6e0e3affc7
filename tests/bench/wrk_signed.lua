-- wrk script for bench/run.py: POST pre-signed, pairwise distinct webhook bodies.
-- BENCH_BODIES names a file of "<X-Hub-Signature-256>\t<raw JSON body>" lines; BENCH_PATH is the
-- URL path. Thread n of N takes lines n, n+N, ...; a thread that runs out starts again from its
-- first body and counts a wrap (a repeated body is a dedupe no-op on the server, so run.py
-- reports wraps as a flaw of the run).

local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(os.getenv("BENCH_WRK_THREADS"))
  local path = os.getenv("BENCH_PATH")
  prepared = {}
  local i = 0
  for line in io.lines(os.getenv("BENCH_BODIES")) do
    if i % nthreads == tid then
      local signature, body = line:match("^(%S+)\t(.*)$")
      prepared[#prepared + 1] = wrk.format("POST", path, {
        ["Content-Type"] = "application/json",
        ["User-Agent"] = "facebookexternalua",
        ["X-Hub-Signature-256"] = signature,
      }, body)
    end
    i = i + 1
  end
  nbodies = #prepared
  wraps = 0
  index = 0
end

function request()
  index = index + 1
  if index > nbodies then
    index = 1
    wraps = wraps + 1
  end
  return prepared[index]
end

function done(summary, latency, requests)
  local wrapped, bodies = 0, 0
  for _, thread in ipairs(threads) do
    wrapped = wrapped + thread:get("wraps")
    bodies = bodies + thread:get("nbodies")
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_s": %.6f, "non_2xx": %d, "errors": %d,'
      .. ' "p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f, "wraps": %d, "bodies": %d}\n',
    summary.requests, summary.duration / 1e6, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50) / 1e3, latency:percentile(99) / 1e3, latency.max / 1e3,
    wrapped, bodies))
end
