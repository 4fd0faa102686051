-- wrk script of `make bench`: rotate pre-generated requests, print a JSON summary.
--
-- Arguments after `--`: <requests file> <offset> [path override]. Each line of the file is
-- METHOD<TAB>PATH<TAB>BODY (BODY may be empty). Thread t of n sends lines offset+t, offset+t+n,
-- ... so that requests that may be sent only once (registrations) are never repeated within or
-- across runs when the caller advances the offset. BENCH_API_KEY (environment) is sent as an
-- Api-Key; BENCH_THREADS is wrk's -t; BENCH_MAX_REQUESTS bounds the responses of each thread;
-- BENCH_ACCEPT sets Accept.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local path_override = args[3]
  lines = {}
  for line in io.lines(args[1]) do
    local method, path, body = line:match("^([^\t]*)\t([^\t]*)\t?(.*)$")
    if method then
      if path_override and path_override ~= "" then path = path_override end
      if body == "" then body = nil end
      table.insert(lines, {method, path, body})
    end
  end
  nthreads = tonumber(os.getenv("BENCH_THREADS") or "1")
  position = tonumber(args[2] or "0") + tid
  sent = 0
  responses = 0
  non2xx = 0
  limit = tonumber(os.getenv("BENCH_MAX_REQUESTS") or "0")
  wrk.headers["Authorization"] = "Api-Key " .. (os.getenv("BENCH_API_KEY") or "")
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Accept"] = os.getenv("BENCH_ACCEPT") or "application/json"
end

function request()
  local entry = lines[(position % #lines) + 1]
  position = position + nthreads
  sent = sent + 1
  return wrk.format(entry[1], entry[2], nil, entry[3])
end

function response(status, headers, body)
  responses = responses + 1
  if status < 200 or status > 299 then non2xx = non2xx + 1 end
  if limit > 0 and responses >= limit then wrk.thread:stop() end
end

function done(summary, latency, requests)
  local non2xx_total = 0
  for _, thread in ipairs(threads) do
    non2xx_total = non2xx_total + (thread:get("non2xx") or 0)
  end
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"non2xx":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"max":%d,"mean":%.1f,"stdev":%.1f,"p50":%d,"p90":%d,"p95":%d,"p99":%d}}\n',
    summary.requests, summary.duration, summary.bytes, non2xx_total,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout,
    latency.min, latency.max, latency.mean, latency.stdev,
    latency:percentile(50), latency:percentile(90), latency:percentile(95), latency:percentile(99)))
end
