-- wrk script for bench_http.py and bench_llm_http.py: POST /v1/messages over CONVERSATIONS
-- conversation ids (so turns of one conversation rarely overlap); the server generates
-- each message_id. By default the texts rotate through shop-zh messages (Chinese); with
-- UNIQUE_QUESTIONS=1 each is a product question never asked before, so that no model
-- answer comes from the cache.
local texts = {"我的订单到哪了", "快递怎么还没到", "你们真行,发错货还拖三天!", "我要退款", "转人工", "开发票", "你好"}
local conversations = tonumber(os.getenv("CONVERSATIONS") or "1000")
local unique_questions = os.getenv("UNIQUE_QUESTIONS") == "1"
local n = 0
local thread_id = 0

function setup(thread)
  thread:set("thread_id", thread_id)
  thread_id = thread_id + 1
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("FRONTDESK_BENCH_KEY")  -- bench_http.py --secure: an API key of scope messages
if key then wrk.headers["Authorization"] = "Bearer " .. key end

function request()
  n = n + 1
  local text = texts[n % #texts + 1]
  if unique_questions then text = string.format("do you sell umbrellas in size %d-%d", thread_id, n) end
  local body = string.format(
    '{"conversation_id":"bench-%d-%d","user_id":"user-%d","text":"%s","channel":"web"}',
    thread_id, n % conversations, n % conversations, text)
  return wrk.format(nil, nil, nil, body)
end
