-- Reference peer for the benchmark (scripts/bench.sh): the header part of the events proxy in
-- Envoy's Lua filter. It strips client-sent X-Remote-* headers, rewrites event paths to the
-- Activity prefix, and sets X-Remote-User/Uid/Group/Extra-* from dynamic metadata. It does
-- none of the rest (no body scoping, no response rewriting, no validation): it is the "how
-- fast could the simple part be" comparison, not a product.
local PREFIX = "/apis/activity.miloapis.com/v1alpha1"
local NAMESPACE = "envoy.filters.http.ext_authz"
local EXTRAS = {
  "iam.miloapis.com/parent-type",
  "iam.miloapis.com/parent-name",
  "iam.miloapis.com/parent-api-group",
}

-- client-go's headerKeyEscape: everything but token characters (and '%') becomes %XX.
local function escape_key(key)
  return (key:gsub("[^%w!#$&'*+%-.^_`|~]", function(c)
    return string.format("%%%02X", c:byte())
  end))
end

local ESCAPED = {}
for i, k in ipairs(EXTRAS) do ESCAPED[i] = "x-remote-extra-" .. escape_key(k) end

function envoy_on_request(handle)
  local headers = handle:headers()
  local spoofed = {}
  for name, _ in pairs(headers) do
    if string.sub(name, 1, 9) == "x-remote-" then spoofed[#spoofed + 1] = name end
  end
  for _, name in ipairs(spoofed) do headers:remove(name) end

  local path = headers:get(":path")
  local rest = string.match(path, "^/api/v1/(namespaces/[^/]+/events.*)$")
    or string.match(path, "^/api/v1/(events.*)$")
  if rest == nil then return end

  local user = handle:streamInfo():dynamicMetadata():get(NAMESPACE)
  if user == nil or user["user"] == nil then
    handle:respond({ [":status"] = "401", ["content-type"] = "application/json" },
      '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}')
    return
  end
  headers:replace(":path", PREFIX .. "/" .. rest)
  headers:remove("authorization")
  headers:add("x-remote-user", user["user"])
  if user["uid"] ~= nil and user["uid"] ~= "" then headers:add("x-remote-uid", user["uid"]) end
  for _, group in ipairs(user["groups"] or {}) do headers:add("x-remote-group", group) end
  local extra = user["extra"] or {}
  for i, key in ipairs(EXTRAS) do
    for _, value in ipairs(extra[key] or {}) do headers:add(ESCAPED[i], value) end
  end
  handle:clearRouteCache()
end
