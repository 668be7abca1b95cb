-- wrk script: POST /v1/chat with questions in turn, each from its own conversation
-- (so the store is written as for real web traffic). Used by scripts/load.sh.
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
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

request = function()
  n = n + 1
  local q = questions[(n % #questions) + 1]
  local sid = string.format("load-%d-%08d", math.random(1, 1000000), n)
  local body = string.format('{"message":"%s","session_id":"%s"}', q, sid)
  return wrk.format(nil, "/v1/chat", nil, body)
end

-- wrk reports non-2xx responses itself ("Non-2xx or 3xx responses").
done = function(summary, latency, requests)
  io.write(string.format("requests %d, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
    summary.requests, latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
