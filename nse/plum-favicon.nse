local http = require "http"
local shortport = require "shortport"
local stdnse = require "stdnse"
local string = require "string"
local url = require "url"
local base64 = require "base64"
local openssl = stdnse.silent_require "openssl"

description = [[
Fetches a web server's favicon and reports its path and hashes: the
Shodan-compatible mmh3 (MurmurHash3 x86 32-bit, seed 0, of the base64 text of
the icon with a newline every 76 characters and one at the end, printed as a
signed 32-bit decimal), MD5 and SHA-256 (lowercase hex).

The icon is taken from the first <link rel="icon"> (or "shortcut icon") of the
root page when it points to the same server, else from /favicon.ico. The output
does not depend on nmap's verbosity. Part of Plum (project NSE scripts).
]]

---
-- @usage nmap -p80,443 --script ./nse/plum-favicon.nse <target>
--
-- @output
-- 80/tcp open  http
-- | plum-favicon:
-- |   path: /static/favicon.ico
-- |   mmh3: -1234567890
-- |   md5: 0123456789abcdef0123456789abcdef
-- |_  sha256: 0123...
--
-- @xmloutput
-- <elem key="path">/static/favicon.ico</elem>
-- <elem key="mmh3">-1234567890</elem>
-- <elem key="md5">0123456789abcdef0123456789abcdef</elem>
-- <elem key="sha256">0123...</elem>
--
-- @args plum-favicon.uri Path to use instead of discovering it (e.g. /img/icon.png).

author = "Plum project"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = {"default", "discovery", "safe"}

portrule = shortport.http

local MASK = 0xffffffff

local function rotl32(x, r)
  return ((x << r) | (x >> (32 - r))) & MASK
end

--- MurmurHash3 x86 32-bit. Lua 5.3 integers are 64-bit and multiplication
-- wraps, so masking after each step keeps exactly the low 32 bits.
local function murmur3_32(data, seed)
  local c1, c2 = 0xcc9e2d51, 0x1b873593
  local h = (seed or 0) & MASK
  local len = #data
  local nblocks = len // 4
  for i = 0, nblocks - 1 do
    local k = string.unpack("<I4", data, i * 4 + 1)
    k = (k * c1) & MASK
    k = rotl32(k, 15)
    k = (k * c2) & MASK
    h = h ~ k
    h = rotl32(h, 13)
    h = (h * 5 + 0xe6546b64) & MASK
  end
  local tail = nblocks * 4
  local rem = len & 3
  local k = 0
  if rem == 3 then k = k ~ (data:byte(tail + 3) << 16) end
  if rem >= 2 then k = k ~ (data:byte(tail + 2) << 8) end
  if rem >= 1 then
    k = k ~ data:byte(tail + 1)
    k = (k * c1) & MASK
    k = rotl32(k, 15)
    k = (k * c2) & MASK
    h = h ~ k
  end
  h = h ~ len
  h = h ~ (h >> 16)
  h = (h * 0x85ebca6b) & MASK
  h = h ~ (h >> 13)
  h = (h * 0xc2b2ae35) & MASK
  h = h ~ (h >> 16)
  if h >= 0x80000000 then h = h - 0x100000000 end
  return h
end

--- base64 as Python's base64.encodebytes writes it (what Shodan hashes):
-- lines of 76 characters, each ended by a newline, including the last.
local function base64_lines(data)
  local b64 = base64.enc(data)
  local parts = {}
  for i = 1, #b64, 76 do
    parts[#parts + 1] = b64:sub(i, i + 75) .. "\n"
  end
  return table.concat(parts)
end

--- First <link> whose rel contains the word "icon"; returns its href.
local function find_icon_href(body)
  for tag in body:gmatch("<[Ll][Ii][Nn][Kk][%s][^>]*>") do
    local rel = tag:match("[Rr][Ee][Ll]%s*=%s*\"([^\"]*)\"") or tag:match("[Rr][Ee][Ll]%s*=%s*'([^']*)'")
    local href = tag:match("[Hh][Rr][Ee][Ff]%s*=%s*\"([^\"]*)\"") or tag:match("[Hh][Rr][Ee][Ff]%s*=%s*'([^']*)'")
    if rel and href and href ~= "" then
      for word in rel:lower():gmatch("%S+") do
        if word == "icon" then return href end
      end
    end
  end
  return nil
end

--- The path of an icon href on this server, or nil when it points elsewhere.
local function same_server_path(href, host, port)
  local u = url.parse(href)
  if u.scheme and u.scheme ~= "http" and u.scheme ~= "https" then return nil end
  if u.host then
    local names = { [host.ip] = true }
    if host.targetname then names[host.targetname:lower()] = true end
    if host.name and host.name ~= "" then names[host.name:lower()] = true end
    if not names[u.host:lower()] then return nil end
    if u.port and tonumber(u.port) ~= port.number then return nil end
  end
  local path = u.path or "/"
  if path:sub(1, 1) ~= "/" then path = "/" .. path end
  if u.query then path = path .. "?" .. u.query end
  return path
end

action = function(host, port)
  local candidates = {}
  local forced = stdnse.get_script_args(SCRIPT_NAME .. ".uri")
  if forced then
    candidates[1] = forced
  else
    local index = http.get(host, port, "/")
    if index and index.status == 200 and index.body then
      local href = find_icon_href(index.body)
      local path = href and same_server_path(href, host, port)
      if path then candidates[#candidates + 1] = path end
    end
    if candidates[1] ~= "/favicon.ico" then candidates[#candidates + 1] = "/favicon.ico" end
  end

  for _, path in ipairs(candidates) do
    local answer = http.get(host, port, path)
    if answer and answer.status == 200 and answer.body and #answer.body > 0 then
      local body = answer.body
      local out = stdnse.output_table()
      out.path = path
      out.mmh3 = tostring(murmur3_32(base64_lines(body), 0))
      out.md5 = stdnse.tohex(openssl.md5(body))
      out.sha256 = stdnse.tohex(openssl.digest("sha256", body))
      return out
    end
  end
  return nil
end
