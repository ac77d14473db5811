-- StarChat for Neovim 0.7+: the StarChat language server for your buffers, chat answers
-- streamed into a side window, and StarChat's code actions in vim.lsp.buf.code_action().
--
--   require('starchat').setup({ settings = { model = '/models/starchat-alpha' } })
--
-- Commands: :StarChat {question} (with a visual range: about the selection; without:
-- about the function under the cursor), :StarChatNew, :StarChatStop, :StarChatStatus.
-- On Neovim 0.12+ the model's completions also show as ghost text while typing
-- (vim.lsp.inline_completion; map vim.lsp.inline_completion.get() to accept them).
local M = {}

M.config = {
  -- How to start the server: `starchat serve` (or { 'python', '-m', 'starchat.server' }).
  cmd = { 'starchat', 'serve' },
  filetypes = { 'python', 'javascript', 'typescript', 'lua', 'rust', 'go', 'c', 'cpp', 'java', 'sh' },
  -- The server's settings (see the README): model, backend, backendUrl, device, dtype,
  -- maxNewTokens, temperature, topP, topK, systemPrompt, contextTokens, completionModel,
  -- fimFormat, maxCompletionTokens, completionPrefixTokens, completionSuffixTokens.
  settings = {},
  -- Ghost text from the server's textDocument/inlineCompletion in StarChat's buffers, where
  -- Neovim has vim.lsp.inline_completion (0.12+); older versions ignore it.
  inline_completion = true,
  root_markers = { '.git', 'pyproject.toml', 'setup.py', 'package.json', 'Cargo.toml', 'go.mod' },
}

-- What the chat window shows and what is in flight; tests read it too.
M.state = {
  conversation = nil, -- the server-side conversation the next question continues
  request = nil, -- { client = ..., id = ... } of the answer being streamed
  tokens = {}, -- partial-result tokens of our chat requests
  chunks = 0, -- streamed pieces of the current answer
  answers = {}, -- finished answers, oldest first
  status = nil, -- the last starchat/status
  buf = nil,
}

local function chat_buffer()
  if M.state.buf and vim.api.nvim_buf_is_valid(M.state.buf) then
    return M.state.buf
  end
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_name(buf, 'StarChat')
  vim.api.nvim_buf_set_option(buf, 'filetype', 'markdown')
  M.state.buf = buf
  return buf
end

local function show_chat()
  local buf = chat_buffer()
  if vim.fn.bufwinnr(buf) == -1 then
    local here = vim.api.nvim_get_current_win()
    vim.cmd('botright vsplit')
    vim.api.nvim_win_set_buf(0, buf)
    vim.api.nvim_set_current_win(here)
  end
  return buf
end

-- Append text to the chat buffer, continuing its last line.
local function append(text)
  local buf = chat_buffer()
  local last = vim.api.nvim_buf_line_count(buf)
  local tail = vim.api.nvim_buf_get_lines(buf, last - 1, last, false)[1] or ''
  local lines = vim.split(tail .. text, '\n', true)
  vim.api.nvim_buf_set_lines(buf, last - 1, last, false, lines)
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    vim.api.nvim_win_set_cursor(win, { vim.api.nvim_buf_line_count(buf), 0 })
  end
end

local handlers = {
  -- Chat answers arrive as partial results: `$/progress` for our token, value = { text }.
  ['$/progress'] = function(err, result, ctx, config)
    if result and M.state.tokens[result.token] then
      M.state.chunks = M.state.chunks + 1
      append(result.value.text or '')
      return
    end
    return vim.lsp.handlers['$/progress'](err, result, ctx, config)
  end,
  ['starchat/status'] = function(_, status)
    local before = M.state.status
    M.state.status = status
    if status.state == 'error' and not (before and before.state == 'error') then
      vim.notify('StarChat: ' .. (status.message or 'the model failed to load'), vim.log.levels.ERROR)
    end
  end,
  ['starchat/contextTrimmed'] = function(_, params)
    vim.notify(('StarChat: dropped the %d oldest messages to fit the context window'):format(params.droppedMessages))
  end,
  -- Explain answers with { conversationId, text }: show it here and continue from it.
  ['workspace/executeCommand'] = function(err, result)
    if err then
      vim.notify('StarChat: ' .. err.message, vim.log.levels.ERROR)
    elseif type(result) == 'table' and result.conversationId then
      M.state.conversation = result.conversationId
      show_chat()
      append('\n## StarChat: Explain\n\n' .. result.text .. '\n')
      table.insert(M.state.answers, result.text)
    end
  end,
}

local function find_root(path)
  local dir = vim.fn.fnamemodify(path, ':p:h')
  while dir and dir ~= '' do
    for _, marker in ipairs(M.config.root_markers) do
      if vim.loop.fs_stat(dir .. '/' .. marker) then
        return dir
      end
    end
    local parent = vim.fn.fnamemodify(dir, ':h')
    if parent == dir then
      break
    end
    dir = parent
  end
  return vim.fn.fnamemodify(path, ':p:h')
end

local clients = {} -- root directory → client id

function M.attach(bufnr)
  local root = find_root(vim.api.nvim_buf_get_name(bufnr))
  local id = clients[root]
  if not id or not vim.lsp.get_client_by_id(id) then
    local capabilities = vim.lsp.protocol.make_client_capabilities()
    -- This plugin shows Explain's answer itself (see handlers above).
    capabilities.experimental = { starchat = { answerPanel = true } }
    id = vim.lsp.start_client({
      name = 'starchat',
      cmd = M.config.cmd,
      root_dir = root,
      init_options = M.config.settings,
      settings = { starchat = M.config.settings },
      capabilities = capabilities,
      handlers = handlers,
    })
    clients[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
  return id
end

local function client_for(bufnr)
  for _, client in pairs(vim.lsp.buf_get_clients(bufnr)) do
    if client.name == 'starchat' then
      return client
    end
  end
end

local function selection_range(bufnr, client, opts)
  if opts.range == 0 then
    return vim.lsp.util.make_range_params(0, client.offset_encoding).range
  end
  if vim.fn.visualmode() == 'V' or vim.fn.getpos("'<")[2] ~= opts.line1 then
    return { start = { line = opts.line1 - 1, character = 0 }, ['end'] = { line = opts.line2, character = 0 } }
  end
  return vim.lsp.util.make_given_range_params(nil, nil, bufnr, client.offset_encoding).range
end

-- Ask about the code at hand; the answer streams into the chat window.
function M.ask(question, opts)
  opts = opts or { range = 0 }
  local bufnr = vim.api.nvim_get_current_buf()
  local client = client_for(bufnr)
  if not client then
    vim.notify('StarChat is not attached to this buffer', vim.log.levels.WARN)
    return
  end
  local token = ('starchat-chat-%d'):format(vim.loop.hrtime())
  local params = {
    message = question,
    conversationId = M.state.conversation,
    partialResultToken = token,
    context = { uri = vim.uri_from_bufnr(bufnr), range = selection_range(bufnr, client, opts) },
  }
  M.state.tokens[token] = true
  M.state.chunks = 0
  show_chat()
  append('\n## You\n\n' .. question .. '\n\n## StarChat\n\n')
  local _, request_id = client.request('starchat/chat', params, function(err, result)
    M.state.tokens[token] = nil
    M.state.request = nil
    if err then
      append(err.code == -32800 and '\n[stopped]\n' or ('\n[' .. err.message .. ']\n'))
      return
    end
    M.state.conversation = result.conversationId
    table.insert(M.state.answers, result.text)
    append('\n' .. M.references_text(result.references))
  end, bufnr)
  M.state.request = { client = client, id = request_id }
end

-- The workspace code that went with a question, one `path:first-last` line each.
function M.references_text(references)
  if type(references) ~= 'table' or #references == 0 then
    return ''
  end
  local lines = { '\nReferences:' }
  for _, ref in ipairs(references) do
    local path = vim.fn.fnamemodify(vim.uri_to_fname(ref.uri), ':.')
    table.insert(lines, ('- %s:%d-%d'):format(path, ref.range.start.line + 1, ref.range['end'].line + 1))
  end
  return table.concat(lines, '\n') .. '\n'
end

function M.stop()
  local request = M.state.request
  if request then
    request.client.cancel_request(request.id)
  end
end

function M.new_conversation()
  M.state.conversation = nil
  append('\n---\n')
end

-- The completion model in a few words: "bigcode/starcoderbase-1b ready, fill-in-the-middle
-- (starcoder)"; while loading or after an error, the server's message instead of how it completes:
-- "bigcode/starcoderbase-1b error: Cannot reach the backend".
function M.completion_text(completion)
  if type(completion) ~= 'table' then
    return nil
  end
  local model = completion.model ~= '' and completion.model or 'the chat model'
  local text = ('%s %s'):format(model, completion.state)
  if completion.state == 'ready' then
    local format = type(completion.format) == 'string' and (' (' .. completion.format .. ')') or ''
    local how = completion.infilling and ('fill-in-the-middle' .. format) or 'code before the cursor only'
    return text .. ', ' .. how
  end
  if type(completion.message) == 'string' and completion.message ~= '' then
    return text .. ': ' .. completion.message
  end
  return text
end

function M.status()
  local status = M.state.status
  if not status then
    print('StarChat: not started')
  else
    local line = ('StarChat: %s %s on %s %s'):format(status.model, status.state, status.device, status.message or '')
    local completion = M.completion_text(status.completion)
    print(completion and (line .. '; inline completion: ' .. completion) or line)
  end
end

-- Turn on Neovim's inline completion for a buffer once StarChat, able to answer it, attaches.
local function enable_inline_completion(args)
  local client = vim.lsp.get_client_by_id(args.data.client_id)
  if client and client.name == 'starchat' and client:supports_method('textDocument/inlineCompletion') then
    vim.lsp.inline_completion.enable(true, { bufnr = args.buf })
  end
end

function M.setup(opts)
  M.config = vim.tbl_deep_extend('force', M.config, opts or {})
  local group = vim.api.nvim_create_augroup('StarChat', { clear = true })
  vim.api.nvim_create_autocmd('FileType', {
    group = group,
    pattern = M.config.filetypes,
    callback = function(args)
      M.attach(args.buf)
    end,
  })
  if M.config.inline_completion and vim.lsp.inline_completion then
    vim.api.nvim_create_autocmd('LspAttach', { group = group, callback = enable_inline_completion })
  end
  vim.api.nvim_create_user_command('StarChat', function(cmd)
    M.ask(cmd.args, cmd)
  end, { nargs = '+', range = true, desc = 'Ask StarChat about the selection or the function here' })
  vim.api.nvim_create_user_command('StarChatStop', M.stop, { desc = 'Stop the answer being written' })
  vim.api.nvim_create_user_command('StarChatNew', M.new_conversation, { desc = 'Start a new conversation' })
  vim.api.nvim_create_user_command('StarChatStatus', M.status, { desc = 'Show the model status' })
end

return M
