-- Argo CD health of a releaseguard.io ReleaseValidation, read from its status.
--   Idle, Succeeded                              -> Healthy
--   Progressing, Promoting, Baking, RollingBack  -> Progressing
--   Paused (inconclusive analysis or by hand)    -> Suspended
--   RolledBack                                   -> Degraded
--   Degraded (the target is missing, the spec unusable) -> Degraded
--   no status yet, or a spec the operator has not seen yet -> Progressing
-- The message is the operator's status.message.
local health = {status = "Progressing", message = "Waiting for releaseguard to observe the ReleaseValidation"}
local status = obj.status
if status == nil or status.phase == nil then
  return health
end

local generation = obj.metadata ~= nil and obj.metadata.generation or nil
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  health.message = "Waiting for releaseguard to observe generation " .. tostring(generation)
  return health
end

local by_phase = {
  Idle = "Healthy",
  Succeeded = "Healthy",
  Progressing = "Progressing",
  Promoting = "Progressing",
  Baking = "Progressing",
  RollingBack = "Progressing",
  Paused = "Suspended",
  RolledBack = "Degraded",
  Degraded = "Degraded",
}
health.status = by_phase[status.phase] or "Unknown"
if status.message ~= nil and status.message ~= "" then
  health.message = status.message
else
  health.message = "Phase " .. status.phase
end
return health
