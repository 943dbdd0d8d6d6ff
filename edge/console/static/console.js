/* gridedge office console: line numbers, confirmations and live figures. No framework, no build. */
(function () {
  "use strict";

  /* The editor: a line-number gutter beside the textarea, problem lines marked, jump to a line. */
  function setUpEditor() {
    var text = document.getElementById("text");
    var gutter = document.getElementById("gutter");
    if (!text || !gutter) { return; }
    var bad = {};
    (gutter.parentNode.getAttribute("data-errors") || "").split(",").forEach(function (n) {
      if (n) { bad[n] = true; }
    });
    function draw() {
      var lines = text.value.split("\n").length;
      var html = [];
      for (var i = 1; i <= lines; i++) {
        html.push(bad[i] ? '<span class="bad" id="line-' + i + '">' + i + "</span>" : String(i));
      }
      gutter.innerHTML = html.join("\n") + "\n";
      gutter.scrollTop = text.scrollTop;
    }
    text.addEventListener("input", draw);
    text.addEventListener("scroll", function () { gutter.scrollTop = text.scrollTop; });
    draw();
    function goTo(line) {
      var lines = text.value.split("\n");
      var start = 0;
      for (var i = 0; i < line - 1 && i < lines.length; i++) { start += lines[i].length + 1; }
      text.focus();
      text.setSelectionRange(start, start + (lines[line - 1] || "").length);
      var lineHeight = parseFloat(getComputedStyle(text).lineHeight) || 20;
      text.scrollTop = Math.max(0, (line - 4) * lineHeight);
      gutter.scrollTop = text.scrollTop;
    }
    document.querySelectorAll("a.goto").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        goTo(parseInt(link.getAttribute("data-line"), 10));
      });
    });
    var first = document.querySelector("a.goto");
    if (first) { goTo(parseInt(first.getAttribute("data-line"), 10)); }
  }

  /* Forms that change something important ask first. */
  function setUpConfirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
      });
    });
  }

  /* The overview: currents, alert count and speakers follow the daemon (server-sent events). */
  function setUpLive() {
    if (document.body.getAttribute("data-page") !== "overview" || !window.EventSource) { return; }
    var prefix = document.body.getAttribute("data-prefix");
    var source = new EventSource(prefix + "/live");
    var shown = null;
    source.onmessage = function (message) {
      var data = JSON.parse(message.data);
      var layout = JSON.stringify([data.alerts.map(function (a) { return [a.id, a.state]; }),
        data.posts.map(function (p) { return [p.id, p.online, p.latched, p.ports.length]; })]);
      if (shown === null) { shown = layout; }
      // Alerts or latches changed: offer a reload rather than reloading under someone's finger.
      var banner = document.getElementById("changed");
      if (banner) { banner.hidden = layout === shown; }
      data.posts.forEach(function (post) {
        post.ports.forEach(function (port) {
          var cell = document.querySelector('.amps[data-post="' + post.id + '"][data-port="' + port.port + '"]');
          if (cell) { cell.textContent = (port.current_a || 0).toFixed(1) + " A"; }
        });
      });
      data.speakers.forEach(function (speaker) {
        var row = document.querySelector("#speaker-" + speaker.id + " .playing");
        if (row) {
          row.textContent = (speaker.playing ? "正在播放：" + speaker.playing : "空闲") +
            (speaker.queued ? "（排队 " + speaker.queued + " 条）" : "");
        }
      });
    };
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpEditor();
    setUpConfirmations();
    setUpLive();
  });
}());
