<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name></name>
    <message>
        <location filename="../../agent_desktop/app.py" line="+579"/>
        <source>Logged in.</source>
        <translation>已登录。</translation>
    </message>
    <message>
        <location line="+65"/>
        <source>no SIP device</source>
        <translation>没有 SIP 话机</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>the SIP engine is not available</source>
        <translation>SIP 引擎不可用</translation>
    </message>
    <message>
        <location line="+51"/>
        <source>the phone system&apos;s security certificate is not trusted ({registrar})</source>
        <translation>电话系统的安全证书不受信任（{registrar}）</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>no answer from {registrar}</source>
        <translation>{registrar} 无应答</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>{why}; retrying</source>
        <translation>{why}；正在重试</translation>
    </message>
    <message>
        <location line="+194"/>
        <source>Settings could not be saved: {why}</source>
        <translation>无法保存设置：{why}</translation>
    </message>
    <message>
        <location line="+49"/>
        <location filename="../../agent_desktop/diagnostics.py" line="+289"/>
        <source>Diagnostics saved to {path}</source>
        <translation>诊断信息已保存到 {path}</translation>
    </message>
    <message>
        <location line="-620"/>
        <source>the SIP engine did not start</source>
        <extracomment>What a login loads besides the HTTP client (imported on a worker: `load_client_module`). Set once the login&apos;s modules are fully imported. (Not `sys.modules`: a module is listed there from the start of its import, and importing it on the GUI thread then waits for the worker&apos;s import to finish: a 90 ms stall when the click came during the prewarm.) The app&apos;s own process (build_gui) settles its heap; tests that build seats in a shared process do not (freezing would keep their earlier seats&apos; cycles for good).</extracomment>
        <translation>SIP 引擎未能启动</translation>
    </message>
    <message>
        <location filename="../../agent_desktop/session/credentials.py" line="+27"/>
        <source>No password store is available on this computer: your password won&apos;t be remembered after you quit.</source>
        <translation>此电脑上没有可用的密码存储：退出后不会记住您的密码。</translation>
    </message>
    <message>
        <location filename="../../agent_desktop/session/messages.py" line="+34"/>
        <source>Wrong team, agent number or password.</source>
        <translation>团队、坐席工号或密码错误。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Too many failed attempts. Wait {wait} and try again.</source>
        <translation>失败次数过多。请等待{wait}后重试。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>This account has no agent seat; log in with an agent number.</source>
        <translation>此账号没有坐席席位，请使用坐席工号登录。</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>You were logged out: no contact with the server for too long (timeout).</source>
        <translation>您已被登出：与服务器失去联系的时间过长（超时）。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>A team admin logged you out{because}.</source>
        <translation>团队管理员已将您登出{because}。</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>You logged in again on this computer; this window was logged out.</source>
        <translation>您已在此电脑上重新登录，此窗口已登出。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>You are logged out.</source>
        <translation>您已登出。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Your session is no longer valid. Log in again.</source>
        <translation>您的会话已失效，请重新登录。</translation>
    </message>
    <message>
        <location line="+1"/>
        <location line="+51"/>
        <source>You are not logged in.</source>
        <translation>您尚未登录。</translation>
    </message>
    <message>
        <location line="-50"/>
        <location line="+51"/>
        <source>You are not allowed to do this.</source>
        <translation>您无权执行此操作。</translation>
    </message>
    <message>
        <location line="-49"/>
        <source>Your phone is set by your team admin and cannot be changed.</source>
        <translation>您的话机由团队管理员设定，无法更改。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>You cannot choose a phone number with this account.</source>
        <translation>此账号不能选择话机号码。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Enter the number of the phone you want to use.</source>
        <translation>请输入您要使用的话机号码。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Another agent is using this phone number.</source>
        <translation>另一位坐席正在使用此话机号码。</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>No phone is registered from this computer. To use this app as your phone, enter its phone number and phone password, then log in.</source>
        <translation>此电脑上没有已注册的话机。若要将本应用用作话机，请输入话机号码和话机密码，然后登录。</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>You have no phone yet, so you cannot check in.</source>
        <translation>您还没有话机，因此无法签入。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Check out of your queues before changing the phone.</source>
        <translation>更换话机前请先签出您的队列。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>You are a permanent member of this queue and cannot check out.</source>
        <translation>您是此队列的固定成员，无法签出。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>You are not a member of this queue.</source>
        <translation>您不是此队列的成员。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>This queue does not exist (any more).</source>
        <translation>此队列不存在（或已被删除）。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>No such agent.</source>
        <translation>没有这个坐席。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>No such phone number.</source>
        <translation>没有这个话机号码。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>That workstation is not logged in.</source>
        <translation>该终端未登录。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>No such team.</source>
        <translation>没有这个团队。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>This pause reason is not one of your team&apos;s.</source>
        <translation>此暂停原因不属于您的团队。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>You are not in wrap-up.</source>
        <translation>您不在话后处理状态。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The phone system is unreachable. Try again in a moment.</source>
        <translation>无法连接电话系统，请稍后重试。</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Can&apos;t reach the call-center server at {server}: nothing answers there.</source>
        <translation>无法连接呼叫中心服务器 {server}：该地址无响应。</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Can&apos;t reach the call-center server at {server}: the name is unknown.</source>
        <translation>无法连接呼叫中心服务器 {server}：无法解析该名称。</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Can&apos;t reach the call-center server at {server}: it does not answer.</source>
        <translation>无法连接呼叫中心服务器 {server}：服务器没有应答。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Can&apos;t reach the call-center server at {server}: its security certificate is not trusted.</source>
        <translation>无法连接呼叫中心服务器 {server}：其安全证书不受信任。</translation>
    </message>
    <message>
        <location line="+2"/>
        <location line="+14"/>
        <source>Can&apos;t reach the call-center server at {server}.</source>
        <translation>无法连接呼叫中心服务器 {server}。</translation>
    </message>
    <message>
        <location line="-12"/>
        <source>“{server}” is not a server address. It looks like https://host:port.</source>
        <translation>“{server}”不是服务器地址。服务器地址形如 https://host:port。</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>{server} does not look like a call-center server. Check the address.</source>
        <translation>{server} 似乎不是呼叫中心服务器，请检查地址。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The phone system refused this phone number and phone password.</source>
        <translation>电话系统拒绝了此话机号码和话机密码。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The phone system does not answer, so this app could not register as your phone. Try again in a moment.</source>
        <translation>电话系统没有应答，本应用无法注册为您的话机。请稍后重试。</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>The phone system&apos;s security certificate is not trusted, so this app could not register as your phone. Ask your IT department to check the phone system&apos;s certificate.</source>
        <translation>电话系统的安全证书不受信任，因此本应用无法注册为您的话机。请联系 IT 部门检查电话系统的证书。</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>The server at {server} gave an answer this app does not understand. Check the address, or tell your administrator.</source>
        <translation>服务器 {server} 返回了本应用无法识别的应答。请检查地址，或联系您的管理员。</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>The server is busy. Wait {wait} and try again.</source>
        <translation>服务器繁忙。请等待{wait}后重试。</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>The call-center server has a problem. Try again in a moment.</source>
        <translation>呼叫中心服务器出现问题，请稍后重试。</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Not found.</source>
        <translation>未找到。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>This is not possible right now.</source>
        <translation>当前无法执行此操作。</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The server refused the request.</source>
        <translation>服务器拒绝了该请求。</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>a moment</source>
        <translation>片刻</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>{n} seconds</source>
        <translation> {n} 秒</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>1 second</source>
        <translation> 1 秒</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>{n} minutes</source>
        <translation> {n} 分钟</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Something went wrong: {what}</source>
        <translation>出错了：{what}</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Something went wrong ({code}).</source>
        <translation>出错了（{code}）。</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>: “{reason}”</source>
        <translation>：“{reason}”</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>the configured address</source>
        <translation>所配置的地址</translation>
    </message>
    <message>
        <location filename="../../agent_desktop/settings.py" line="+35"/>
        <source>System language</source>
        <translation>系统语言</translation>
    </message>
    <message>
        <location filename="../../agent_desktop/ui/call_panel.py" line="+49"/>
        <source>starting</source>
        <translation>正在开始</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>calling…</source>
        <translation>正在呼叫…</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>ringing</source>
        <translation>正在振铃</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>ringing at the far end</source>
        <translation>对方振铃中</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>connecting…</source>
        <translation>正在接通…</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>talking</source>
        <translation>通话中</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>ended</source>
        <translation>已结束</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>on hold</source>
        <translation>保持中</translation>
    </message>
    <message>
        <location line="+2"/>
        <source> · muted</source>
        <translation> · 已静音</translation>
    </message>
    <message>
        <location line="+8"/>
        <location filename="../../agent_desktop/ui/incoming.py" line="+150"/>
        <source>unknown caller</source>
        <translation>未知来电方</translation>
    </message>
    <message>
        <location line="+15"/>
        <location filename="../../agent_desktop/ui/history.py" line="+30"/>
        <source>Call</source>
        <translation>通话</translation>
    </message>
    <message>
        <location line="+10"/>
        <location line="+310"/>
        <source>No call</source>
        <translation>无通话</translation>
    </message>
    <message>
        <location line="-309"/>
        <source>Caller</source>
        <translation>来电方</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Call state</source>
        <translation>通话状态</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Call time</source>
        <translation>通话时长</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Consultation call</source>
        <translation>咨询通话</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Call quality</source>
        <translation>通话质量</translation>
    </message>
    <message>
        <location line="+2"/>
        <location filename="../../agent_desktop/ui/incoming.py" line="-58"/>
        <location line="+2"/>
        <location filename="../../agent_desktop/ui/shortcuts.py" line="+35"/>
        <location filename="../../agent_desktop/ui/tray.py" line="+73"/>
        <source>Answer</source>
        <translation>接听</translation>
    </message>
    <message>
        <location line="+1"/>
        <location filename="../../agent_desktop/ui/shortcuts.py" line="+0"/>
        <location filename="../../agent_desktop/ui/tray.py" line="+1"/>
        <source>Hang up</source>
        <translation>挂断</translation>
    </message>
    <message>
        <location line="+1"/>
        <location line="+336"/>
        <source>Hold</source>
        <translation>保持</translation>
    </message>
    <message>
        <location line="-335"/>
        <location line="+338"/>
        <source>Mute</source>
        <translation>静音</translation>
    </message>
    <message>
        <location line="-337"/>
        <location line="+340"/>
        <source>Record</source>
        <translation>录音</translation>
    </message>
    <message>
        <location line="-338"/>
        <location line="+20"/>
        <source>Transfer</source>
        <translation>转接</translation>
    </message>
    <message>
        <location line="-17"/>
        <source>Blind transfer…</source>
        <translation>盲转…</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The caller is sent to another number; this call ends</source>
        <translation>将来电方转到另一个号码，本通话随即结束</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Consult first (warm transfer)…</source>
        <translation>先咨询（咨询转接）…</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The caller waits on hold while you talk to the other number; then complete or cancel</source>
        <translation>来电方保持等待，您先与另一号码通话，然后完成或取消转接</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Complete transfer</source>
        <translation>完成转接</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Swap</source>
        <translation>切换</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Cancel consult</source>
        <translation>取消咨询</translation>
    </message>
    <message>
        <location line="+148"/>
        <source>cannot create {path}: {why}</source>
        <translation>无法创建 {path}：{why}</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>Number:</source>
        <translation>号码：</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Blind transfer</source>
        <translation>盲转</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>transferring to {n}…</source>
        <translation>正在转接到 {n}…</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Consult before transferring</source>
        <translation>转接前咨询</translation>
    </message>
    <message>
        <location line="+21"/>
        <source>completing the transfer…</source>
        <translation>正在完成转接…</translation>
    </message>
    <message>
        <location line="+24"/>
        <source>transferred</source>
        <translation>已转接</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>transfer failed: {code} {reason}</source>
        <translation>转接失败：{code} {reason}</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>transfer: {code} {reason}</source>
        <translation>转接：{code} {reason}</translation>
    </message>
    <message>
        <location line="+21"/>
        <source>good</source>
        <translation>良好</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>fair</source>
        <translation>一般</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>poor</source>
        <translation>较差</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Quality {word}: MOS {mos:.1f} · jitter {jitter:.0f} ms · loss {loss:.1f}% · RTT {rtt:.0f} ms</source>
        <translation>质量{word}：MOS {mos:.1f} · 抖动 {jitter:.0f} ms · 丢包 {loss:.1f}% · RTT {rtt:.0f} ms</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>consultation ended; the caller is on hold</source>
        <translation>咨询已结束，来电方仍在保持中</translation>
    </message>
    <message>
        <location line="+14"/>
        <source>Calls to your queues ring here.</source>
        <translation>您所在队列的来电会在这里振铃。</translation>
    </message>
    <message>
        <location line="+21"/>
        <source>● recording</source>
        <translation>● 正在录音</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>keys sent: {keys}</source>
        <translation>已发送按键：{keys}</translation>
    </message>
    <message>
        <location line="+14"/>
        <source>Recording is not set up on this computer</source>
        <translation>此电脑上未设置录音</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Resume</source>
        <translation>取回</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Unmute</source>
        <translation>取消静音</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Stop recording</source>
        <translation>停止录音</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Consulting {who}: {state}</source>
        <translation>正在咨询 {who}：{state}</translation>
    </message>
    <message>
        <location filename="../../agent_desktop/ui/dialpad.py" line="+32"/>
        <source>Dial pad</source>
        <translation>拨号盘</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Key {key}</source>
        <translation>按键 {key}</translation>
    </message>
    <message>
        <location filename="../../agent_desktop/ui/history.py" line="+0"/>
        <source>When</source>
        <translation>时间</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Number</source>
        <translation>号码</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Name</source>
        <translation>名称</translation>
    </message>
    <message>
        <location line="+1"/>
        <location filename="../../agent_desktop/ui/incoming.py" line="-9"/>
        <location filename="../../agent_desktop/ui/team_board.py" line="+388"/>
        <location filename="../../agent_desktop/ui/team_window.py" line="+164"/>
        <source>Queue</source>
        <translation>队列</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Duration</source>
        <translation>时长</translation>
    </message>
    <message>
        <location line="+21"/>
        <source>↙ in</source>
        <translation>↙ 呼入</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>✗ missed</source>
        <translation>✗ 未接</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>↗ out</source>
        <translation>↗ 呼出</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>↗ not answered</source>
        <translation>↗ 未接通</translation>
    </message>
    <message>
        <location line="+24"/>
        <source>Search number or name</source>
        <translation>搜索号码或名称</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Search call history</source>
        <translation>搜索通话记录</translation>
    </message>
    <message>
        <location line="+3"/>
        <location filename="../../agent_desktop/ui/main_window.py" line="+283"/>
        <source>Call history</source>
        <translation>通话记录</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Double-click or press Enter to call back</source>
        <translation>双击或按 Enter 键回拨</translation>
    </message>
    <message>
        <location line="+5"/>
        <location line="+52"/>
        <source>No calls yet.</source>
        <translation>暂无通话。</translation>
    </message>
    <message>
        <location line="-25"/>
        <source>The call history could not be read: {why}</source>
        <translation>无法读取通话记录：{why}</translation>
    </message>
    <message>
        <location line="+15"/>
        <source>Double-click or press Enter to call {n} back</source>
        <translation>双击或按 Enter 键回拨 {n}</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>No calls match “{text}”.</source>
        <translation>没有与“{text}”匹配的通话。</translation>
    </message>
    <message>
        <location filename="../../agent_desktop/ui/incoming.py" line="-14"/>
        <location line="+1"/>
        <location line="+3"/>
        <location filename="../../agent_desktop/ui/tray.py" line="+50"/>
        <source>Incoming call</source>
        <translation>来电</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Caller number</source>
        <translation>主叫号码</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Caller name</source>
        <translation>主叫名称</translation>
    </message>
    <message>
        <location line="+11"/>
        <location line="+2"/>
        <source>Reject</source>
        <translation>拒接</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Answer (Enter)</source>
        <translation>接听（Enter）</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Reject (Esc)</source>
        <translation>拒接（Esc）</translation>
    </message>
    <message>
        <location line="+48"/>
        <source>Unknown number</source>
        <translation>未知号码</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Queue: {queue}</source>
        <translation>队列：{queue}</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Incoming call: {who}</source>
        <translation>来电：{who}</translation>
    </message>
    <message>
        <location filename="../../agent_desktop/ui/login.py" line="+65"/>
        <source>Agent Desktop — Log in</source>
        <extracomment>Error codes after which the login needs a phone number (dynamic device mode). Error codes after which this app can register as the phone first (self-adapting mode). Self-adapting agents: this app registers as `device_number` with it before logging in (the server then finds the phone registered from this computer).</extracomment>
        <translation>坐席工作台 — 登录</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Server address</source>
        <translation>服务器地址</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Team</source>
        <translation>团队</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Agent number</source>
        <translation>坐席工号</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Password</source>
        <translation>密码</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Phone number</source>
        <translation>话机号码</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Phone password</source>
        <translation>话机密码</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>The SIP password of this phone number, from your team admin</source>
        <translation>此话机号码的 SIP 密码，由团队管理员提供</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Remember my password on this computer</source>
        <translation>在此电脑上记住我的密码</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Remember password</source>
        <translation>记住密码</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Password storage notice</source>
        <translation>密码存储提示</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>Login error</source>
        <translation>登录错误</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Logging in</source>
        <translation>正在登录</translation>
    </message>
    <message>
        <location line="+3"/>
        <location line="+1"/>
        <location line="+108"/>
        <source>Log in</source>
        <translation>登录</translation>
    </message>
    <message>
        <location line="-103"/>
        <source>&amp;Server:</source>
        <translation>服务器(&amp;S)：</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>&amp;Team:</source>
        <translation>团队(&amp;T)：</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>&amp;Agent:</source>
        <translation>坐席(&amp;A)：</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>&amp;Password:</source>
        <translation>密码(&amp;P)：</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>P&amp;hone number:</source>
        <translation>话机号码(&amp;H)：</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Phone pass&amp;word:</source>
        <translation>话机密码(&amp;W)：</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Log in to the call center</source>
        <translation>登录呼叫中心</translation>
    </message>
    <message>
        <location line="+75"/>
        <source>server address</source>
        <translation>服务器地址</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>agent number</source>
        <translation>坐席工号</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>password</source>
        <translation>密码</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Please fill in: {fields}.</source>
        <translation>请填写：{fields}。</translation>
    </message>
    <message>
        <location line="+11"/>
        <location filename="../../agent_desktop/ui/main_window.py" line="-162"/>
        <source>Logging in…</source>
        <translation>正在登录…</translation>
    </message>
    <message>
        <location filename="../../agent_desktop/ui/main_window.py" line="-58"/>
        <source>static member: always in the queue</source>
        <translation>固定成员：始终在队列中</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>timeout</source>
        <translation>超时</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>forced</source>
        <translation>被强制</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>replaced by a new login on this computer</source>
        <translation>已被此电脑上的新登录取代</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>logout</source>
        <translation>正常登出</translation>
    </message>
    <message>
        <location line="+26"/>
        <source>Server: connected</source>
        <translation>服务器：已连接</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Server: unreachable, retrying</source>
        <translation>服务器：无法连接，正在重试</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Server: not connected</source>
        <translation>服务器：未连接</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Phone: registered</source>
        <translation>话机：已注册</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Phone: registering…</source>
        <translation>话机：正在注册…</translation>
    </message>
    <message>
        <location line="+1"/>
        <location line="+2"/>
        <source>Phone: not registered</source>
        <translation>话机：未注册</translation>
    </message>
    <message>
        <location line="+5"/>
        <location filename="../../agent_desktop/ui/team_board.py" line="-316"/>
        <location line="+29"/>
        <location filename="../../agent_desktop/ui/team_window.py" line="+1"/>
        <source>Paused</source>
        <translation>暂停</translation>
    </message>
    <message>
        <location line="+2"/>
        <location filename="../../agent_desktop/ui/team_board.py" line="-26"/>
        <location line="+27"/>
        <source>Wrap-up</source>
        <translation>话后处理</translation>
    </message>
    <message>
        <location line="+2"/>
        <location filename="../../agent_desktop/ui/team_board.py" line="-2"/>
        <source>On a call</source>
        <translation>通话中</translation>
    </message>
    <message>
        <location line="+2"/>
        <location filename="../../agent_desktop/ui/team_board.py" line="-18"/>
        <source>Ringing</source>
        <translation>振铃中</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Ready · in {n} queue(s)</source>
        <translation>就绪 · 已签入 {n} 个队列</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Logged in · not in a queue</source>
        <translation>已登录 · 未签入队列</translation>
    </message>
    <message>
        <location line="+4"/>
        <location line="+2"/>
        <location filename="../../agent_desktop/ui/team_board.py" line="-8"/>
        <location line="+29"/>
        <source>Logged out</source>
        <translation>已登出</translation>
    </message>
    <message>
        <location line="+14"/>
        <source>Queue {name}</source>
        <translation>队列 {name}</translation>
    </message>
    <message>
        <location line="+18"/>
        <source>{name} (static)</source>
        <translation>{name}（固定）</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>always in the queue</source>
        <translation>始终在队列中</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>in the queue</source>
        <translation>已签入</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>not in the queue</source>
        <translation>未签入</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>…</source>
        <translation>…</translation>
    </message>
    <message>
        <location line="+24"/>
        <location filename="../../agent_desktop/ui/tray.py" line="-15"/>
        <source>Agent Desktop</source>
        <translation>坐席工作台</translation>
    </message>
    <message>
        <location line="+14"/>
        <source>Settings…</source>
        <translation>设置…</translation>
    </message>
    <message>
        <location line="+1"/>
        <location filename="../../agent_desktop/ui/settings_dialog.py" line="+61"/>
        <source>Settings</source>
        <translation>设置</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Audio devices, auto-answer, screen pop, language, theme (Ctrl+,)</source>
        <translation>音频设备、自动应答、弹屏、语言、主题（Ctrl+,）</translation>
    </message>
    <message>
        <location line="+6"/>
        <location line="+1"/>
        <source>Team view</source>
        <translation>团队视图</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The live board of your team (you are its team admin)</source>
        <translation>您团队的实时看板（您是该团队的管理员）</translation>
    </message>
    <message>
        <location line="+6"/>
        <location filename="../../agent_desktop/ui/team_board.py" line="+45"/>
        <location filename="../../agent_desktop/ui/team_window.py" line="+15"/>
        <source>Queues</source>
        <translation>队列</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>You are not a member of any queue.</source>
        <translation>您不属于任何队列。</translation>
    </message>
    <message>
        <location line="+2"/>
        <location filename="../../agent_desktop/ui/shortcuts.py" line="+2"/>
        <source>Check in to all</source>
        <translation>全部签入</translation>
    </message>
    <message>
        <location line="+1"/>
        <location filename="../../agent_desktop/ui/shortcuts.py" line="+0"/>
        <source>Check out of all</source>
        <translation>全部签出</translation>
    </message>
    <message>
        <location line="+13"/>
        <location line="+2"/>
        <location line="+2"/>
        <location filename="../../agent_desktop/ui/team_window.py" line="-95"/>
        <location filename="../../agent_desktop/ui/tray.py" line="-40"/>
        <source>Pause</source>
        <translation>暂停</translation>
    </message>
    <message>
        <location line="+4"/>
        <location filename="../../agent_desktop/ui/team_window.py" line="+0"/>
        <source>Unpause</source>
        <translation>取消暂停</translation>
    </message>
    <message>
        <location line="+2"/>
        <location line="+1"/>
        <source>End wrap-up</source>
        <translation>结束话后处理</translation>
    </message>
    <message>
        <location line="+2"/>
        <location filename="../../agent_desktop/ui/team_board.py" line="-3"/>
        <source>Availability</source>
        <translation>状态</translation>
    </message>
    <message>
        <location line="+8"/>
        <location line="+1"/>
        <location filename="../../agent_desktop/ui/shortcuts.py" line="+1"/>
        <location filename="../../agent_desktop/ui/team_window.py" line="+244"/>
        <location line="+1"/>
        <source>Number to call</source>
        <translation>要拨打的号码</translation>
    </message>
    <message>
        <location line="+1"/>
        <location line="+1"/>
        <location filename="../../agent_desktop/ui/team_window.py" line="+2"/>
        <location line="+1"/>
        <source>Call</source>
        <comment>dial button</comment>
        <translation>呼叫</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Dial</source>
        <translation>拨号</translation>
    </message>
    <message>
        <location line="+20"/>
        <location filename="../../agent_desktop/ui/team_window.py" line="-61"/>
        <source>Status</source>
        <translation>状态信息</translation>
    </message>
    <message>
        <location line="+2"/>
        <location line="+1"/>
        <source>Log in again</source>
        <translation>重新登录</translation>
    </message>
    <message>
        <location line="+48"/>
        <source>Phone: none assigned</source>
        <translation>话机：未分配</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>You have no phone yet.</source>
        <translation>您还没有话机。</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Phone: external {n}</source>
        <translation>话机：外线 {n}</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Your calls ring an external phone ({n}): no outbound dialling from here.</source>
        <translation>您的来电会在外部电话（{n}）上振铃：无法从这里外呼。</translation>
    </message>
    <message>
        <location filename="../../agent_desktop/app.py" line="+638"/>
        <location filename="../../agent_desktop/ui/main_window.py" line="+133"/>
        <location line="+80"/>
        <source>The phone is not registered.</source>
        <translation>话机未注册。</translation>
    </message>
    <message>
        <location filename="../../agent_desktop/ui/main_window.py" line="-43"/>
        <source>Keys are sent to the call (DTMF)</source>
        <translation>按键会发送到通话中（DTMF）</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Type the number to call</source>
        <translation>输入要拨打的号码</translation>
    </message>
    <message>
        <location line="+17"/>
        <source>Paused by {by}: {why}</source>
        <translation>{by} 将您置为暂停：{why}</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>the server</source>
        <translation>服务器</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Checked out of {group} by {by}: {why}</source>
        <translation>{by} 将您签出了 {group}：{why}</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Unpaused.</source>
        <translation>已取消暂停。</translation>
    </message>
    <message>
        <location line="+23"/>
        <source>forced by {by}: {why}</source>
        <translation>被 {by} 强制：{why}</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>a team admin</source>
        <translation>团队管理员</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Logged out: {reason}</source>
        <translation>已登出：{reason}</translation>
    </message>
    <message>
        <location filename="../../agent_desktop/ui/settings_dialog.py" line="+5"/>
        <source>Audio</source>
        <translation>音频</translation>
    </message>
    <message>
        <location line="+1"/>
        <location filename="../../agent_desktop/ui/team_admin.py" line="+155"/>
        <source>Calls</source>
        <translation>通话</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>General</source>
        <translation>常规</translation>
    </message>
    <message>
        <location line="+9"/>
        <location line="+1"/>
        <source>Collect diagnostics</source>
        <translation>收集诊断信息</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Save logs, SIP trace, audio devices and network state (no passwords) in a zip for support</source>
        <translation>将日志、SIP 跟踪、音频设备和网络状态（不含密码）保存为 zip 文件，供技术支持使用</translation>
    </message>
    <message>
        <location line="+27"/>
        <source>&amp;Microphone:</source>
        <translation>麦克风(&amp;M)：</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>&amp;Speaker:</source>
        <translation>扬声器(&amp;S)：</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>&amp;Ringer:</source>
        <translation>振铃设备(&amp;R)：</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>Microphone level</source>
        <translation>麦克风音量</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Speak: the bar moves when the microphone hears you</source>
        <translation>请说话：麦克风听到声音时，音量条会跳动</translation>
    </message>
    <message>
        <location line="+2"/>
        <location line="+1"/>
        <source>Play test tone</source>
        <translation>播放测试音</translation>
    </message>
    <message>
        <location line="+2"/>
        <location line="+1"/>
        <location line="+204"/>
        <source>Test ringer</source>
        <translation>测试振铃</translation>
    </message>
    <message>
        <location line="-184"/>
        <source>Cancel the echo of the speaker (not needed with a headset)</source>
        <translation>消除扬声器回声（使用耳机时不需要）</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Echo cancellation</source>
        <translation>回声消除</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Answer calls automatically</source>
        <translation>自动接听来电</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Auto-answer</source>
        <translation>自动应答</translation>
    </message>
    <message>
        <location line="+3"/>
        <source> s</source>
        <translation> 秒</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Auto-answer delay in seconds</source>
        <translation>自动应答延迟（秒）</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>after</source>
        <translation>延迟</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Open the screen pop</source>
        <translation>打开弹屏</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Never</source>
        <translation>从不</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>When a call rings</source>
        <translation>来电振铃时</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>When I answer</source>
        <translation>接听时</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Screen-pop address</source>
        <translation>弹屏地址</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Placeholders: {names}</source>
        <translation>占位符：{names}</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Screen &amp;pop:</source>
        <translation>弹屏(&amp;P)：</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>&amp;Address:</source>
        <translation>地址(&amp;A)：</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Language</source>
        <translation>语言</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Theme</source>
        <translation>主题</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Follow the system</source>
        <translation>跟随系统</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Light</source>
        <translation>浅色</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Dark</source>
        <translation>深色</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>&amp;Language:</source>
        <translation>语言(&amp;L)：</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>&amp;Theme:</source>
        <translation>主题(&amp;T)：</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Start when I log in to this computer</source>
        <translation>登录此电脑时启动</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Start at login</source>
        <translation>登录时启动</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Start in the tray</source>
        <translation>启动时最小化到托盘</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Start minimized</source>
        <translation>最小化启动</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Start:</source>
        <translation>启动：</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>A new language shows after the app is restarted.</source>
        <translation>新语言将在重启应用后生效。</translation>
    </message>
    <message>
        <location line="+18"/>
        <source>System default</source>
        <translation>系统默认</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>{id} (not connected)</source>
        <translation>{id}（未连接）</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Audio is not available: the SIP engine did not start.</source>
        <translation>音频不可用：SIP 引擎未能启动。</translation>
    </message>
    <message>
        <location line="+91"/>
        <source>Stop ringer</source>
        <translation>停止振铃</translation>
    </message>
    <message>
        <location filename="../../agent_desktop/ui/team_admin.py" line="-101"/>
        <source>Not valid JSON at line {line}, column {col}: {msg}</source>
        <translation>第 {line} 行第 {col} 列不是有效的 JSON：{msg}</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>The document must be {&quot;teams&quot;: [ one team ]}.</source>
        <translation>文档必须是 {&quot;teams&quot;: [ one team ]} 的形式（只含一个团队）。</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>The team&apos;s name must stay {team}.</source>
        <translation>团队名称必须保持为 {team}。</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Manage team {team}</source>
        <translation>管理团队 {team}</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Configuration</source>
        <translation>配置</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Usage</source>
        <translation>用量</translation>
    </message>
    <message>
        <location line="+12"/>
        <source>Team configuration</source>
        <translation>团队配置</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Users, agents, devices (internal / external, extensions), groups and memberships (static / dynamic), pause reasons, heartbeat interval and timeout. Passwords are never shown: add &quot;password&quot; (or &quot;sip_password&quot;) to an entry to set one. Send whole entries: a field left out goes back to its default.</source>
        <translation>用户、坐席、话机（内线 / 外线、分机号）、队列及其成员（固定 / 动态）、暂停原因、心跳间隔和超时。密码从不显示：在条目中加上 &quot;password&quot;（或 &quot;sip_password&quot;）即可设置密码。请提交完整的条目：省略的字段会恢复为默认值。</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Configuration status</source>
        <translation>配置状态</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Check and save</source>
        <translation>检查并保存</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Reload</source>
        <translation>重新加载</translation>
    </message>
    <message>
        <location line="+19"/>
        <location line="+68"/>
        <source>Loading…</source>
        <translation>正在加载…</translation>
    </message>
    <message>
        <location line="-62"/>
        <source>As on the server now.</source>
        <translation>与服务器当前配置一致。</translation>
    </message>
    <message>
        <location line="+9"/>
        <source>Saving…</source>
        <translation>正在保存…</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Saved ({counts}).</source>
        <translation>已保存（{counts}）。</translation>
    </message>
    <message>
        <location line="+13"/>
        <location line="+15"/>
        <source>From</source>
        <translation>从</translation>
    </message>
    <message>
        <location line="-15"/>
        <source>To</source>
        <translation>到</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Show</source>
        <translation>查看</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>User</source>
        <translation>用户</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Billable minutes</source>
        <translation>计费分钟数</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Cost</source>
        <translation>费用</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Usage per user</source>
        <translation>各用户用量</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>to</source>
        <translation>到</translation>
    </message>
    <message>
        <location line="+14"/>
        <source>The end date is before the start date.</source>
        <translation>结束日期早于开始日期。</translation>
    </message>
    <message>
        <location line="+11"/>
        <source>(no owner)</source>
        <translation>（无所属用户）</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>{first} to {last}: {n} users, total cost {total}</source>
        <translation>{first} 至 {last}：{n} 个用户，总费用 {total}</translation>
    </message>
    <message>
        <location filename="../../agent_desktop/ui/team_board.py" line="-72"/>
        <source> (by {who})</source>
        <translation>（由 {who}）</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Not in a queue</source>
        <translation>未签入队列</translation>
    </message>
    <message>
        <location line="+1"/>
        <location line="+24"/>
        <location filename="../../agent_desktop/ui/tray.py" line="-1"/>
        <source>Ready</source>
        <translation>就绪</translation>
    </message>
    <message>
        <location line="-18"/>
        <source>Idle</source>
        <translation>空闲</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Talking</source>
        <translation>通话中</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>On hold</source>
        <translation>保持中</translation>
    </message>
    <message>
        <location line="+14"/>
        <source>All agents</source>
        <translation>全部坐席</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Logged in</source>
        <translation>已登录</translation>
    </message>
    <message>
        <location line="+47"/>
        <source>Agent</source>
        <translation>坐席</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Activity</source>
        <translation>活动</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Since</source>
        <translation>持续时长</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Phone</source>
        <translation>话机</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Terminals</source>
        <translation>终端</translation>
    </message>
    <message>
        <location line="+181"/>
        <source>none</source>
        <translation>无</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>registered</source>
        <translation>已注册</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>not registered</source>
        <translation>未注册</translation>
    </message>
    <message>
        <location line="+6"/>
        <source> (static)</source>
        <translation>（固定）</translation>
    </message>
    <message>
        <location line="+0"/>
        <source> (out)</source>
        <translation>（已签出）</translation>
    </message>
    <message>
        <location line="+39"/>
        <source>Team board</source>
        <translation>团队看板</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Show agents</source>
        <translation>显示坐席</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Search number, name, phone or caller</source>
        <translation>搜索工号、姓名、话机或来电方</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Search agents</source>
        <translation>搜索坐席</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Agents shown</source>
        <translation>显示的坐席数</translation>
    </message>
    <message>
        <location line="+28"/>
        <source>All queues</source>
        <translation>全部队列</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>{shown} of {total}</source>
        <translation>{shown} / {total}</translation>
    </message>
    <message>
        <location filename="../../agent_desktop/ui/team_window.py" line="-188"/>
        <source>Check out of the queues</source>
        <translation>签出队列</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Log out</source>
        <translation>登出</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Reason</source>
        <translation>原因</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>The agent sees this</source>
        <translation>坐席会看到此内容</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>&amp;Reason:</source>
        <translation>原因(&amp;R)：</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Pause reason</source>
        <translation>暂停原因</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>&amp;Pause as:</source>
        <translation>暂停原因(&amp;P)：</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Terminal</source>
        <translation>终端</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Every terminal</source>
        <translation>所有终端</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>&amp;Terminal:</source>
        <translation>终端(&amp;T)：</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>Static members stay in their static queues: {who}</source>
        <translation>固定成员会留在其固定队列中：{who}</translation>
    </message>
    <message>
        <location line="+16"/>
        <source>This team has no pause reasons.</source>
        <translation>此团队没有暂停原因。</translation>
    </message>
    <message>
        <location line="+19"/>
        <source>{agent}: checked out of {groups}</source>
        <translation>{agent}：已签出 {groups}</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>no queue</source>
        <translation>无队列</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>; static in {groups} (stays)</source>
        <translation>；在 {groups} 中为固定成员（保留）</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>{agent}: logged out ({n} terminal(s))</source>
        <translation>{agent}：已登出（{n} 个终端）</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>{agent}: paused</source>
        <translation>{agent}：已暂停</translation>
    </message>
    <message>
        <location line="+3"/>
        <source>{agent}: unpaused</source>
        <translation>{agent}：已取消暂停</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Waiting</source>
        <translation>等待中</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Longest wait</source>
        <translation>最长等待</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Available</source>
        <translation>可用</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Busy</source>
        <translation>忙碌</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Answered</source>
        <translation>已接听</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Abandoned</source>
        <translation>已放弃</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Service level</source>
        <translation>服务水平</translation>
    </message>
    <message>
        <location line="+72"/>
        <source>Answered within {s} s, of all answered and abandoned today</source>
        <translation>今日已接听和已放弃的来电中，{s} 秒内接听的比例</translation>
    </message>
    <message>
        <location line="+24"/>
        <source>Team {team} — Agent Desktop</source>
        <translation>团队 {team} — 坐席工作台</translation>
    </message>
    <message>
        <location line="+8"/>
        <source>Loading the team…</source>
        <translation>正在加载团队…</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Actions</source>
        <translation>操作</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Check out…</source>
        <translation>签出…</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Pause…</source>
        <translation>暂停…</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Unpause…</source>
        <translation>取消暂停…</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Log out…</source>
        <translation>登出…</translation>
    </message>
    <message>
        <location line="+10"/>
        <source>Listen</source>
        <translation>监听</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Hear the agent&apos;s call on your phone</source>
        <translation>在您的话机上收听坐席的通话</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Whisper</source>
        <translation>耳语</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Talk to the agent; the caller does not hear you</source>
        <translation>与坐席通话，来电方听不到您</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Barge in</source>
        <translation>强插</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Talk to both the agent and the caller</source>
        <translation>同时与坐席和来电方通话</translation>
    </message>
    <message>
        <location line="+7"/>
        <source>Manage team…</source>
        <translation>管理团队…</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Users, agents, devices, groups, pause reasons, heartbeat; usage per user</source>
        <translation>用户、坐席、话机、队列、暂停原因、心跳；各用户用量</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Refresh</source>
        <translation>刷新</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Listening</source>
        <translation>监听中</translation>
    </message>
    <message>
        <location line="+2"/>
        <source>Stop</source>
        <translation>停止</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Stop listening</source>
        <translation>停止监听</translation>
    </message>
    <message>
        <location line="+61"/>
        <source>{n} agents in team {team}.</source>
        <translation>团队 {team} 共有 {n} 个坐席。</translation>
    </message>
    <message>
        <location line="+41"/>
        <source>Working…</source>
        <translation>正在处理…</translation>
    </message>
    <message>
        <location line="+20"/>
        <source>Calling your phone…</source>
        <translation>正在呼叫您的话机…</translation>
    </message>
    <message>
        <location line="+6"/>
        <source>Listening to {agent}</source>
        <translation>正在监听 {agent}</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Whispering to {agent}</source>
        <translation>正在对 {agent} 耳语</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Barged in on {agent}</source>
        <translation>已强插 {agent} 的通话</translation>
    </message>
    <message>
        <location line="+2"/>
        <source> · on your phone {device}</source>
        <translation> · 在您的话机 {device} 上</translation>
    </message>
    <message>
        <location filename="../../agent_desktop/ui/shortcuts.py" line="-3"/>
        <source>Hold / resume</source>
        <translation>保持 / 取回</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Mute / unmute</source>
        <translation>静音 / 取消静音</translation>
    </message>
    <message>
        <location line="+0"/>
        <source>Ready / pause</source>
        <translation>就绪 / 暂停</translation>
    </message>
    <message>
        <location filename="../../agent_desktop/ui/tray.py" line="-2"/>
        <source>Show Agent Desktop</source>
        <translation>显示坐席工作台</translation>
    </message>
    <message>
        <location line="+4"/>
        <source>Check in to all queues</source>
        <translation>签入所有队列</translation>
    </message>
    <message>
        <location line="+1"/>
        <source>Check out of all queues</source>
        <translation>签出所有队列</translation>
    </message>
    <message>
        <location line="+5"/>
        <source>Quit</source>
        <translation>退出</translation>
    </message>
    <message>
        <location line="+47"/>
        <source> · queue {q}</source>
        <translation> · 队列 {q}</translation>
    </message>
    <message>
        <location filename="../../agent_desktop/diagnostics.py" line="-8"/>
        <source>Collecting diagnostics…</source>
        <translation>正在收集诊断信息…</translation>
    </message>
    <message>
        <location line="+16"/>
        <source>Diagnostics could not be saved: {why}</source>
        <translation>无法保存诊断信息：{why}</translation>
    </message>
    <message>
        <location filename="../../agent_desktop/provisioning.py" line="+47"/>
        <source>Set by your IT department</source>
        <translation>由您的 IT 部门设置</translation>
    </message>
</context>
</TS>
