-- Argo CD health check for mqtt2pg.io/IngestPipeline (resource.customizations.health.mqtt2pg.io_IngestPipeline).
-- Argo CD runs it with the live object in `obj` (gopher-lua, Lua 5.1 syntax; tested with Lua 5.4 by
-- scripts/check-packaging.sh against manifests/argocd/health_test.yaml).
-- Status is trusted only once the operator has seen the current spec: right after a sync, conditions still
-- describe the previous generation and would report Healthy for a rollout that has not started.
local hs = {}

local function findCondition(conditions, conditionType)
  if conditions == nil then
    return nil
  end
  for _, c in ipairs(conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function describe(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the mqtt2pg operator to report status"
  return hs
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local observed = obj.status.observedGeneration
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "Waiting for the mqtt2pg operator to observe generation " .. tostring(generation)
  return hs
end

local conditions = obj.status.conditions
local degraded = findCondition(conditions, "Degraded")
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(degraded, "Degraded")
  return hs
end

-- spec.paused: intake stopped on purpose (docs/conditions.md), as Argo CD shows a suspended CronJob.
local paused = findCondition(conditions, "Paused")
if paused ~= nil and paused.status == "True" then
  hs.status = "Suspended"
  hs.message = describe(paused, "Paused")
  return hs
end

local ready = findCondition(conditions, "Ready")
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end

hs.status = "Progressing"
local progressing = findCondition(conditions, "Progressing")
if ready ~= nil then
  hs.message = describe(ready, describe(progressing, "Waiting for the pipeline to become ready"))
else
  hs.message = describe(progressing, "Waiting for the pipeline to become ready")
end
return hs
