/* Dashboards: the board list's "New board" form, and one board's grid. The board and
   every widget's result come from the reports API in one request; charts are drawn
   with ECharts from the server's option JSON, KPI numbers and tables as HTML (text
   only: textContent, never innerHTML); clicking a datum opens its drill-down list;
   with edit rights the layout (drag, resize) is saved as it changes. */
(function () {
  "use strict";

  var api = "/api/v1/dashboards";

  function request(method, url, body) {
    var options = { method: method, headers: { Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return window.trellis.fetch(url, options);
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  /* ---------------------------------------------------------------- the list */

  function newBoardForm(form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var label = form.elements.label.value.trim();
      var error = form.querySelector("[data-new-board-error]");
      if (!label) return;
      request("POST", api, { label: label, widgets: [] }).then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) throw new Error((body.error && body.error.message) || response.status);
          window.location.href = "/dashboards/" + encodeURIComponent(body.id);
        });
      }).catch(function (exc) {
        error.textContent = exc.message;
        error.hidden = false;
      });
    });
  }

  /* ---------------------------------------------------------------- one board */

  function filterQuery() {
    var form = document.querySelector("[data-board-filters]");
    if (!form) return "";
    var params = new URLSearchParams();
    Array.prototype.forEach.call(form.elements, function (input) {
      if (input.name && input.value) params.append(input.name, input.value);
    });
    var text = params.toString();
    return text ? "?" + text : "";
  }

  function drillTo(result, index) {
    var drill = result.drill || [];
    var target = drill[index] || (drill.length === 1 ? drill[0] : null);
    if (target && target.url && target.url.charAt(0) === "/") window.location.href = target.url;
  }

  function drawKpi(body, result) {
    var value = result.value && typeof result.value === "object" ? result.value : { text: result.value };
    var number = el("button", "widget-kpi", value.text !== undefined ? value.text : value.value);
    number.type = "button";
    number.addEventListener("click", function () { drillTo(result, 0); });
    body.appendChild(number);
    if (value.change_text) body.appendChild(el("p", "widget-kpi-change", value.change_text));
  }

  function cellText(row, key) {
    var labels = row.labels || {};
    if (labels[key] !== undefined) return labels[key];
    var value = row[key];
    return value === null || value === undefined ? "—" : value;
  }

  function drawTable(body, result) {
    var rows = result.rows || [];
    if (!rows.length) { body.appendChild(el("p", "widget-empty", grid().dataset.textEmpty)); return; }
    var keys = Object.keys(rows[0]).filter(function (k) { return k !== "labels" && !/_currency$/.test(k); });
    var headings = result.columns || {};
    var table = el("table", "table widget-table");
    var head = table.createTHead().insertRow();
    keys.forEach(function (k) { head.appendChild(el("th", "", headings[k] || k)); });
    var tbody = table.createTBody();
    rows.forEach(function (row, index) {
      var tr = tbody.insertRow();
      keys.forEach(function (k) { tr.appendChild(el("td", typeof row[k] === "number" ? "num" : "", cellText(row, k))); });
      if ((result.drill || [])[index]) {
        tr.tabIndex = 0;
        tr.className = "is-drillable";
        tr.addEventListener("click", function () { drillTo(result, index); });
        tr.addEventListener("keydown", function (e) { if (e.key === "Enter") drillTo(result, index); });
      }
    });
    var wrap = el("div", "table-wrap");
    wrap.appendChild(table);
    body.appendChild(wrap);
  }

  function drawChart(body, result, charts) {
    var holder = el("div", "widget-chart");
    body.appendChild(holder);
    var chart = window.echarts.init(holder, null, { renderer: "canvas" });
    chart.setOption(result.echarts);
    chart.on("click", function (params) { drillTo(result, params.dataIndex); });
    charts[result.id] = chart;
  }

  function widgetCard(result, board) {
    var card = el("div", "widget-card");
    var head = el("div", "widget-head");
    head.appendChild(el("h2", "widget-title", result.title || result.id));
    if (!result.error) {
      ["csv", "xlsx"].forEach(function (format) {
        var link = el("a", "widget-export", grid().dataset["text" + format.charAt(0).toUpperCase() + format.slice(1)]);
        link.href = api + "/" + encodeURIComponent(board) + "/widgets/" + encodeURIComponent(result.id) + "/export?format=" + format + filterQuery().replace("?", "&");
        head.appendChild(link);
      });
    }
    card.appendChild(head);
    var body = el("div", "widget-body");
    card.appendChild(body);
    return { card: card, body: body };
  }

  function draw(result, body, charts) {
    if (result.error) {
      body.appendChild(el("p", "widget-error", result.error.message || grid().dataset.textError));
    } else if (result.echarts && window.echarts) {
      drawChart(body, result, charts);
    } else if (result.kind === "kpi" || result.value !== undefined) {
      drawKpi(body, result);
    } else {
      drawTable(body, result);
    }
  }

  function grid() { return document.querySelector(".board-grid"); }

  function saveLayout(gs, board) {
    var layout = {};
    gs.engine.nodes.forEach(function (node) {
      layout[node.id] = { x: node.x, y: node.y, w: node.w, h: node.h };
    });
    return request("PUT", api + "/" + encodeURIComponent(board) + "/layout", { layout: layout })
      .then(function (response) {
        if (!response.ok && window.trellis.toast) window.trellis.toast(grid().dataset.textError, "error");
      });
  }

  function loadBoard(container) {
    var board = container.dataset.board;
    var editable = container.dataset.editable === "1";
    var Stack = window.GridStack && (window.GridStack.GridStack || window.GridStack);
    var gs = Stack.init({
      column: 12, cellHeight: 80, margin: 8, float: false, animate: true,
      disableDrag: !editable, disableResize: !editable,
      columnOpts: { breakpoints: [{ w: 700, c: 1 }] }
    }, container);
    var charts = {};
    container.setAttribute("aria-busy", "true");
    request("GET", api + "/" + encodeURIComponent(board) + "/data" + filterQuery()).then(function (response) {
      return response.json();
    }).then(function (body) {
      gs.batchUpdate();
      (body.widgets || []).forEach(function (result) {
        var layout = result.layout || {};
        var parts = widgetCard(result, board);
        var item = el("div", "grid-stack-item");
        item.setAttribute("gs-id", result.id);
        ["x", "y", "w", "h"].forEach(function (k) {
          if (layout[k] !== undefined) item.setAttribute("gs-" + k, layout[k]);
        });
        if (layout.w === undefined) item.setAttribute("gs-w", 6);
        if (layout.h === undefined) item.setAttribute("gs-h", 4);
        var content = el("div", "grid-stack-item-content");
        content.appendChild(parts.card);
        item.appendChild(content);
        container.appendChild(item);
        gs.makeWidget(item);
        draw(result, parts.body, charts);
      });
      gs.batchUpdate(false);
      container.removeAttribute("aria-busy");
      Object.keys(charts).forEach(function (id) { charts[id].resize(); });
      gs.on("resizestop", function () { Object.keys(charts).forEach(function (id) { charts[id].resize(); }); });
      if (editable) gs.on("change", function () { saveLayout(gs, board); });
    });
    window.addEventListener("resize", function () { Object.keys(charts).forEach(function (id) { charts[id].resize(); }); });
    container.trellisCharts = charts;
  }

  function downloadPng(container) {
    var charts = container.trellisCharts || {};
    var box = container.getBoundingClientRect();
    var canvas = document.createElement("canvas");
    var ratio = window.devicePixelRatio || 1;
    canvas.width = box.width * ratio;
    canvas.height = box.height * ratio;
    var ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    ctx.fillStyle = "#f6f7f8";
    ctx.fillRect(0, 0, box.width, box.height);
    var pending = Object.keys(charts).map(function (id) {
      var chart = charts[id];
      var node = chart.getDom().getBoundingClientRect();
      var card = chart.getDom().closest(".widget-card");
      var title = card ? card.querySelector(".widget-title").textContent : id;
      return new Promise(function (resolve) {
        var image = new Image();
        image.onload = function () {
          ctx.fillStyle = "#ffffff";
          ctx.fillRect(node.left - box.left - 8, node.top - box.top - 36, node.width + 16, node.height + 44);
          ctx.fillStyle = "#161a20";
          ctx.font = "600 14px system-ui, sans-serif";
          ctx.fillText(title, node.left - box.left, node.top - box.top - 14);
          ctx.drawImage(image, node.left - box.left, node.top - box.top, node.width, node.height);
          resolve();
        };
        image.src = chart.getDataURL({ type: "png", pixelRatio: ratio, backgroundColor: "#ffffff" });
      });
    });
    Promise.all(pending).then(function () {
      var link = document.createElement("a");
      link.download = (container.dataset.board || "board") + ".png";
      link.href = canvas.toDataURL("image/png");
      link.click();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("[data-new-board]");
    if (form) newBoardForm(form);
    var container = grid();
    if (!container) return;
    var filters = document.querySelector("[data-board-filters]");
    var current = new URLSearchParams(window.location.search);
    if (filters) Array.prototype.forEach.call(filters.elements, function (input) {
      if (input.name && current.has(input.name)) input.value = current.get(input.name);
    });
    if (filters) filters.addEventListener("submit", function (event) {
      event.preventDefault();
      window.location.search = filterQuery();
    });
    loadBoard(container);
    var png = document.querySelector("[data-board-png]");
    if (png) png.addEventListener("click", function () { downloadPng(container); });
  });
})();
