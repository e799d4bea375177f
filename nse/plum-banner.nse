local nmap = require "nmap"
local shortport = require "shortport"
local stdnse = require "stdnse"
local string = require "string"

description = [[
Connects to an open TCP port and reports the service's full greeting banner.

Unlike the stock banner script, the output never depends on nmap's verbosity:
the whole banner (up to plum-banner.max bytes, 2048 by default) is returned,
with CR LF and CR turned into LF, other control and non-ASCII bytes written as
\xNN, and surrounding white space trimmed. The same text is the script output
and the "banner" element. Part of Plum (project NSE scripts).
]]

---
-- @usage nmap -p22,25 --script ./nse/plum-banner.nse <target>
--
-- @output
-- 22/tcp open  ssh
-- |_plum-banner: SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6
--
-- @xmloutput
-- <elem key="banner">SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6</elem>
--
-- @args plum-banner.timeout Seconds to wait for the first bytes (default 5).
-- @args plum-banner.max Maximum banner length in bytes (default 2048).

author = "Plum project"
license = "Same as Nmap--See https://nmap.org/book/man-legal.html"
categories = {"discovery", "safe"}

portrule = function(host, port)
  return port.protocol == "tcp" and port.state == "open"
end

local function read_banner(host, port, first_timeout_ms, max)
  local sock = nmap.new_socket()
  sock:set_timeout(first_timeout_ms)
  local ok, err = sock:connect(host, port, "tcp")
  if not ok then
    stdnse.debug1("connect failed: %s", err or "?")
    return nil
  end
  local chunks, total = {}, 0
  while total < max do
    local status, data = sock:receive()
    if not status then break end
    chunks[#chunks + 1] = data
    total = total + #data
    -- After the first bytes, wait briefly for the rest of a multi-line greeting.
    sock:set_timeout(700)
  end
  sock:close()
  if total == 0 then return nil end
  return table.concat(chunks):sub(1, max)
end

local function clean(raw)
  local s = raw:gsub("\r\n", "\n"):gsub("\r", "\n")
  s = s:gsub("[^\n\32-\126]", function(c) return string.format("\\x%02X", c:byte()) end)
  s = s:match("^%s*(.-)%s*$")
  return s
end

action = function(host, port)
  local timeout = tonumber(stdnse.get_script_args(SCRIPT_NAME .. ".timeout")) or 5
  local max = tonumber(stdnse.get_script_args(SCRIPT_NAME .. ".max")) or 2048
  local raw = read_banner(host, port, math.floor(timeout * 1000), max)
  if not raw then return nil end
  local text = clean(raw)
  if text == "" then return nil end
  local out = stdnse.output_table()
  out.banner = text
  return out, text
end
