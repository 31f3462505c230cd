-- wrk script for `make bench`: POST a JSON body (or several, round-robin) and report one JSON line.
--   BODY_FILES=a.json[,b.json...]  bodies to send; the URL's path is the target
--   RESULT_FILE=out.jsonl           where done() appends {"requests", "seconds", "rps", "p50_ms", ...}
--   BENCH_LABEL='"target":"swift","size":1'  copied into the line (JSON members, no braces)
-- A body file with a sibling <file>.hlen is an Open Inference binary-tensor body: sent as
-- application/octet-stream with Inference-Header-Content-Length = the number in that file.
local bodies = {}
local paths = {}
local requests = {}
local next_index = 1

local function read_all(path)
  local f = assert(io.open(path, "rb"), "cannot open " .. path)
  local data = f:read("*a")
  f:close()
  return data
end

function init(args)
  for path in string.gmatch(os.getenv("BODY_FILES") or "", "[^,]+") do
    table.insert(bodies, read_all(path))
    table.insert(paths, path)
  end
  assert(#bodies > 0, "BODY_FILES is empty")
  for i, body in ipairs(bodies) do
    local headers = { ["Content-Type"] = "application/json" }
    local hlen = io.open(paths[i] .. ".hlen", "rb")
    if hlen then
      headers = { ["Content-Type"] = "application/octet-stream",
                  ["Inference-Header-Content-Length"] = hlen:read("*l") }
      hlen:close()
    end
    table.insert(requests, wrk.format("POST", nil, headers, body))
  end
end

function request()
  local r = requests[next_index]
  next_index = next_index % #requests + 1
  return r
end

function done(summary, latency, requests_)
  local seconds = summary.duration / 1e6
  local e = summary.errors
  local line = string.format(
    '{%s,"requests":%d,"seconds":%.3f,"rps":%.2f,"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
    '"bytes":%d,"errors_connect":%d,"errors_read":%d,"errors_write":%d,"errors_status":%d,"errors_timeout":%d}\n',
    os.getenv("BENCH_LABEL") or '"label":""', summary.requests, seconds, summary.requests / seconds,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    summary.bytes, e.connect, e.read, e.write, e.status, e.timeout)
  local path = os.getenv("RESULT_FILE")
  if path then
    local f = assert(io.open(path, "a"))
    f:write(line)
    f:close()
  end
  io.write(line)
end
