-- wrk script for bench_llm_http.py: POST /v1/messages with a product question that is
-- new every time (so no answer comes from the cache) over CONVERSATIONS conversation ids.
local conversations = tonumber(os.getenv("CONVERSATIONS") or "1000")
local n = 0
local thread_id = 0

function setup(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  n = n + 1
  local body = string.format(
    '{"conversation_id":"q-%d-%d","user_id":"user-%d","text":"do you sell umbrellas in size %d-%d"}',
    thread_id, n % conversations, n % conversations, thread_id, n)
  return wrk.format(nil, nil, nil, body)
end
