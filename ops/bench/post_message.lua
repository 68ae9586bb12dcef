-- wrk script for bench_http.py: POST /v1/messages with rotating texts over
-- CONVERSATIONS conversation ids (so turns of one conversation rarely overlap).
-- The shop-zh texts are Chinese; the server generates each message_id.
local texts = {"我的订单到哪了", "快递怎么还没到", "你们真行,发错货还拖三天!", "我要退款", "转人工", "开发票", "你好"}
local conversations = tonumber(os.getenv("CONVERSATIONS") or "1000")
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
  local body = string.format(
    '{"conversation_id":"bench-%d-%d","user_id":"user-%d","text":"%s","channel":"web"}',
    thread_id, n % conversations, n % conversations, texts[n % #texts + 1])
  return wrk.format(nil, nil, nil, body)
end
