-- Drives StarChat from headless Neovim with the configuration in clients/neovim: a chat
-- about a selection (streamed), then Fix from Neovim's own code-action menu. What happened
-- is written as JSON to $STARCHAT_RESULT; the Python test checks it.
local env = vim.fn.environ()

local function finish(result)
  local file = io.open(env.STARCHAT_RESULT, 'w')
  file:write(vim.fn.json_encode(result))
  file:close()
  vim.cmd('qa!')
end

local function wait(condition, what)
  if not vim.wait(60000, condition, 20) then
    finish({ error = 'timed out waiting for ' .. what })
  end
end

vim.opt.runtimepath:append(env.STARCHAT_REPO .. '/clients/neovim')
vim.cmd('filetype on')
local starchat = require('starchat')
starchat.setup({
  cmd = { env.STARCHAT_PYTHON, '-m', 'starchat.server' },
  settings = { backend = 'openai', backendUrl = env.STARCHAT_BACKEND },
})

vim.cmd('edit ' .. env.STARCHAT_FILE)
local buf = vim.api.nvim_get_current_buf()
wait(function()
  return starchat.state.status ~= nil and starchat.state.status.state == 'ready'
end, 'the model')

-- 1. Ask about lines 4–5, selected line-wise as a user would.
vim.cmd('normal! 4GVj\27')
vim.cmd("'<,'>StarChat What does this do?")
wait(function()
  return #starchat.state.answers == 1
end, 'the chat answer')
local chat = {
  answer = starchat.state.answers[1],
  chunks = starchat.state.chunks,
  window = vim.api.nvim_buf_get_lines(starchat.state.buf, 0, -1, false),
}

-- 2. Fix the line an (external) linter flags, through vim.lsp.buf.code_action().
local before = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
local linter = vim.api.nvim_create_namespace('linter')
vim.diagnostic.set(linter, buf, {
  { lnum = 5, col = 24, end_lnum = 5, end_col = 29, message = "undefined name 'value'", severity = vim.diagnostic.severity.ERROR, source = 'pyflakes' },
})
vim.api.nvim_win_set_cursor(0, { 6, 26 })
local offered = {}
vim.ui.select = function(items, _, choose)
  for _, item in ipairs(items) do
    table.insert(offered, item[2].title)
  end
  for _, item in ipairs(items) do
    if item[2].title == 'StarChat: Fix' then
      return choose(item)
    end
  end
  choose(nil)
end
vim.lsp.buf.code_action()
wait(function()
  return not vim.deep_equal(vim.api.nvim_buf_get_lines(buf, 0, -1, false), before)
end, 'the fix')

finish({ chat = chat, offered = offered, fixed = vim.api.nvim_buf_get_lines(buf, 0, -1, false) })
