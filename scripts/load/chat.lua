-- wrk script: POST /v1/chat with questions in turn, each from its own conversation
-- (so the store is written as for real web traffic). Used by scripts/load.sh.
-- LOAD_TAG (env) goes into every session id, so that runs and wrk processes sharing one
-- store never reuse a conversation; LOAD_OUT (env), if set, is a file that receives the
-- request and error counts and the latency quantiles (every 0.1 %) for scripts/load.sh
-- to merge the runs of several wrk processes.
local questions = {
  "comment inscrire mon fils à l'école ?",
  "ma voiture a été enlevée par la fourrière",
  "inscription cantine tarif",
  "Quelle est la capitale de l'Australie ?",
  "How much do school meals cost?",
  "il y a un lampadaire qui ne marche plus dans ma rue",
  "quels papiers pour refaire ma carte d'identité",
  "quand passe le camion des poubelles",
}

-- Each wrk thread runs its own copy of this script: setup numbers them so their session
-- ids differ (an unseeded math.random gives every thread the same numbers).
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

local n = 0
local tag = os.getenv("LOAD_TAG") or "x"
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  n = n + 1
  local q = questions[(n % #questions) + 1]
  local sid = string.format("load-%s-%d-%08d", tag, tid or 0, n)
  local body = string.format('{"message":"%s","session_id":"%s"}', q, sid)
  return wrk.format(nil, "/v1/chat", nil, body)
end

-- Which statuses the refused requests had (a 503 of a busy store is not a 500): one
-- counter per status in each thread, read back by done.
response = function(status, headers, body)
  if status >= 300 then
    local k = "status_" .. status
    _G[k] = (_G[k] or 0) + 1
  end
end

-- wrk reports non-2xx responses itself ("Non-2xx or 3xx responses").
done = function(summary, latency, requests)
  io.write(string.format("requests %d, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    summary.requests, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
  local out = os.getenv("LOAD_OUT")
  if out then
    local e = summary.errors
    local f = assert(io.open(out, "w"))
    f:write(string.format("requests %d\nduration_us %d\nnon2xx %d\nsocket %d\n",
      summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout))
    for status = 300, 599 do
      local count = 0
      for _, thread in ipairs(threads) do
        count = count + (thread:get("status_" .. status) or 0)
      end
      if count > 0 then
        f:write(string.format("status %d %d\n", status, count))
      end
    end
    for i = 1, 1000 do
      f:write(string.format("q %d\n", latency:percentile(i / 10)))
    end
    f:close()
  end
end
