-- wrk script for bench/run.py: the request comes from the environment, the result goes out as
-- one line "BENCH {json}" that run.py parses.
--
--   BENCH_METHOD  GET or POST (default GET)
--   BENCH_BODY    request body (form-encoded), sent with Content-Type BENCH_CTYPE
--   BENCH_CTYPE   default application/x-www-form-urlencoded when a body is set
--   BENCH_AUTH    value of the Authorization header (Bearer ... / Basic ...)
--   BENCH_ACCEPT  value of the Accept header (unset or empty: none)
--
-- Latencies are microseconds. "status" is wrk's own count of responses with status > 399
-- (3xx are not counted; run.py checks each scenario answers 200 before loading it).

wrk.method = os.getenv("BENCH_METHOD") or "GET"

local body = os.getenv("BENCH_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = os.getenv("BENCH_CTYPE") or "application/x-www-form-urlencoded"
end

local auth = os.getenv("BENCH_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end

local accept = os.getenv("BENCH_ACCEPT")
if accept and accept ~= "" then
  wrk.headers["Accept"] = accept
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,"max_us":%d,' ..
    '"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d}\n',
    summary.requests, summary.duration, summary.bytes,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.mean, latency.max,
    e.connect, e.read, e.write, e.status, e.timeout))
end
