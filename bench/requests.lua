-- wrk script for bench/compare: replays a request list ("HOST PATH" per line, from a page-view
-- log) round-robin, each request with its own Host header. Every wrk thread starts at a
-- different offset so threads do not send the same request at the same moment.
--
--   wrk -t1 -c32 -d20s -s bench/requests.lua http://127.0.0.1:PORT -- requests.txt

local requests = {}
local counter = 0
local thread_index = 0

function setup(thread)
  thread:set("index", thread_index)
  thread_index = thread_index + 1
end

function init(args)
  local file = args[1] or "requests.txt"
  for line in io.lines(file) do
    local host, path = line:match("^(%S+)%s+(%S+)$")
    if host then
      requests[#requests + 1] = wrk.format("GET", path, { Host = host })
    end
  end
  if #requests == 0 then
    error("no requests in " .. file)
  end
  counter = ((index or 0) * 7919) % #requests
end

function request()
  counter = counter + 1
  if counter > #requests then
    counter = 1
  end
  return requests[counter]
end
