-- Runs health.lua against the cases of health_test.yaml, as Argo CD does: a fresh environment per case with
-- the object in the global `obj`, the script's return value compared with the expected status and message.
-- Usage: lua5.4 run-health-tests.lua HEALTH.lua CASES.lua
--   CASES.lua returns { {name=, obj=, status=, message=}, ... } (test/packaging/health-cases.ts writes it from
--   the YAML files: Lua has no YAML parser of its own).
local scriptPath, casesPath = arg[1], arg[2]
if scriptPath == nil or casesPath == nil then
  io.stderr:write("usage: lua5.4 run-health-tests.lua HEALTH.lua CASES.lua\n")
  os.exit(2)
end

local cases = assert(dofile(casesPath))
local failures = 0
for _, case in ipairs(cases) do
  -- Only what Argo CD's gopher-lua sandbox offers (base, table, string, math), so a script that leans on
  -- io or os fails here rather than in Argo CD.
  local env = {
    obj = case.obj,
    ipairs = ipairs, pairs = pairs, next = next, type = type, tostring = tostring, tonumber = tonumber,
    error = error, pcall = pcall, select = select, unpack = table.unpack,
    table = table, string = string, math = math,
  }
  local chunk = assert(loadfile(scriptPath, "t", env))
  local ok, hs = pcall(chunk)
  if not ok then
    failures = failures + 1
    print(string.format("FAIL %s: health.lua raised: %s", case.name, tostring(hs)))
  elseif type(hs) ~= "table" then
    failures = failures + 1
    print(string.format("FAIL %s: health.lua returned %s, not a table", case.name, type(hs)))
  elseif hs.status ~= case.status or hs.message ~= case.message then
    failures = failures + 1
    print(string.format("FAIL %s:\n  want %s: %q\n  got  %s: %q", case.name, case.status, case.message,
      tostring(hs.status), tostring(hs.message)))
  else
    print(string.format("ok   %s: %s", case.name, hs.status))
  end
end
if failures > 0 then
  print(string.format("%d of %d Argo CD health cases failed (manifests/argocd/health.lua)", failures, #cases))
  os.exit(1)
end
print(string.format("Argo CD health check: %d cases passed", #cases))
