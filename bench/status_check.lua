-- wrk script: count responses that are not 200, so a redirect to the login page
-- (which wrk counts as a success) cannot pass for a fast Client Licenses tab.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  not_ok = 0
end

function response(status, headers, body)
  if status ~= 200 then
    not_ok = not_ok + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("not_ok")
  end
  io.write(string.format("Responses other than 200: %d\n", total))
end
