-- wrk script: wrong passwords as fast as the connections allow, each try for another email
-- (a guessed one, or the known user's every fourth try), with the CSRF token and cookie of one
-- real GET /login. Counts the answers by status, so the run shows how many were refused (429).
-- Arguments after `--`: csrf_token, known email.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  token, known = args[1], args[2]
  statuses = {}
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end

function request()
  counter = counter + 1
  local email = known
  if counter % 4 ~= 0 then
    email = string.format("guess-%d-%d@bench.example", id, counter)
  end
  local body = "csrf_token=" .. token .. "&email=" .. email .. "&password=wrong-" .. counter .. "&next="
  return wrk.format(nil, "/login", nil, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for _, status in ipairs({200, 302, 400, 401, 422, 429, 500}) do
      local seen = thread:get("statuses")[status]
      if seen then
        totals[status] = (totals[status] or 0) + seen
      end
    end
  end
  for status, count in pairs(totals) do
    io.write(string.format("Status %d: %d\n", status, count))
  end
end
