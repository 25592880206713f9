/*
 * Tessera hosted card fields — the script a merchant page loads from Tessera:
 *
 *   <script src="https://tessera.example/elements/v1/tessera.js"></script>
 *   const card = Tessera.card({ publicKey: 'pk_test_…', locale: 'es' }).mount('#card');
 *   const { token, brand, last4 } = await card.tokenize({ tokenization: true, installments: 3 });
 *
 * The card inputs live in an iframe on Tessera's origin: this page never sees the card number, the
 * expiry or the CVC, only the token, the brand and the last four digits. Messages to and from the
 * frame go through postMessage, and only messages from Tessera's origin *and* this card's own frame
 * window are read. Plain ES2017, no dependencies, nothing loaded from anywhere but Tessera.
 */
(function () {
  'use strict';
  var script = document.currentScript;
  var TESSERA_ORIGIN = script ? new URL(script.src, location.href).origin : location.origin;
  var LOCALES = { es: true, en: true };
  var TIMEOUT_MS = 30000;
  var sequence = 0;

  /** The error a tokenize() promise rejects with: `{code, message, param}` (param may be null). */
  function TesseraError(code, message, param) {
    this.name = 'TesseraError';
    this.code = code;
    this.message = message;
    this.param = param === undefined ? null : param;
  }
  TesseraError.prototype = Object.create(Error.prototype);
  TesseraError.prototype.constructor = TesseraError;

  function Card(options) {
    options = options || {};
    if (typeof options.publicKey !== 'string' && typeof options.order !== 'string') {
      throw new TesseraError('invalid_request', 'Tessera.card needs a publicKey.', 'publicKey');
    }
    this._key = options.publicKey || '';
    this._order = options.order || '';
    this._locale = LOCALES[options.locale] ? options.locale : 'en';
    this._frame = null;
    this._ready = false;
    this._pending = {};
    this._queue = [];
    this._failure = null;
    this._listeners = {};
    this._onMessage = this._onMessage.bind(this);
  }

  /** Puts the card frame into `target` (an element or a selector). Returns the card. */
  Card.prototype.mount = function (target) {
    var host = typeof target === 'string' ? document.querySelector(target) : target;
    if (!host) throw new TesseraError('invalid_request', 'Tessera: nothing matches ' + String(target) + '.', 'target');
    if (this._frame) throw new TesseraError('invalid_request', 'Tessera: this card is already mounted.', null);
    var params = new URLSearchParams({ origin: location.origin, locale: this._locale });
    if (this._order) params.set('order', this._order);
    else params.set('key', this._key);
    var frame = document.createElement('iframe');
    frame.src = TESSERA_ORIGIN + '/elements/v1/card-frame?' + params.toString();
    frame.title = this._locale === 'es' ? 'Datos de la tarjeta' : 'Card details';
    frame.setAttribute('allow', '');
    frame.setAttribute('scrolling', 'no');
    frame.style.cssText = 'border:0;width:100%;height:230px;display:block;overflow:hidden;background:transparent';
    this._frame = frame;
    window.addEventListener('message', this._onMessage);
    host.appendChild(frame);
    return this;
  };

  /** Removes the frame; pending tokenize() calls reject. */
  Card.prototype.unmount = function () {
    window.removeEventListener('message', this._onMessage);
    if (this._frame && this._frame.parentNode) this._frame.parentNode.removeChild(this._frame);
    this._frame = null;
    this._ready = false;
    this._fail(new TesseraError('unmounted', 'The card fields were removed.', null));
  };

  /** `on('change' | 'ready' | 'error', fn)`: change events carry `{brand, complete}`, never card data. */
  Card.prototype.on = function (event, fn) {
    (this._listeners[event] = this._listeners[event] || []).push(fn);
    return this;
  };

  Card.prototype._emit = function (event, data) {
    (this._listeners[event] || []).forEach(function (fn) {
      try { fn(data); } catch (e) { setTimeout(function () { throw e; }); }
    });
  };

  /**
   * Validates the fields and tokenizes the card with Tessera. Options: `tokenization` (permanent
   * token after a validation hold), `installments` (3, 6, 9, 12, 18), `fixed_installments`.
   * Resolves `{token, brand, last4}`; rejects with `{code, message, param}`.
   */
  Card.prototype.tokenize = function (options) {
    var opts = {};
    options = options || {};
    ['tokenization', 'installments', 'fixed_installments'].forEach(function (k) {
      if (options[k] !== undefined) opts[k] = options[k];
    });
    return this._request('tokenize', opts);
  };

  /** The hosted payment page's call: pays the order the frame was mounted for. */
  Card.prototype.pay = function (options) {
    return this._request('pay', { installments: options && options.installments ? options.installments : null });
  };

  Card.prototype._request = function (action, payload) {
    var self = this;
    if (!this._frame) return Promise.reject(new TesseraError('not_mounted', 'Call mount() first.', null));
    if (this._failure) return Promise.reject(this._failure);
    return new Promise(function (resolve, reject) {
      var id = 'r' + ++sequence;
      var timer = setTimeout(function () {
        delete self._pending[id];
        reject(new TesseraError('timeout', 'Tessera did not answer in time.', null));
      }, TIMEOUT_MS);
      self._pending[id] = { resolve: resolve, reject: reject, timer: timer };
      var message = { type: 'tessera:' + action, id: id, options: payload };
      if (self._ready) self._post(message);
      else self._queue.push(message);
    });
  };

  Card.prototype._post = function (message) {
    if (this._frame && this._frame.contentWindow) this._frame.contentWindow.postMessage(message, TESSERA_ORIGIN);
  };

  Card.prototype._fail = function (error) {
    this._failure = error;
    var pending = this._pending;
    this._pending = {};
    Object.keys(pending).forEach(function (id) {
      clearTimeout(pending[id].timer);
      pending[id].reject(error);
    });
  };

  Card.prototype._onMessage = function (event) {
    // Only Tessera's origin, and only this card's own frame: other frames of Tessera (or anyone
    // else) cannot answer for it.
    if (event.origin !== TESSERA_ORIGIN || !this._frame || event.source !== this._frame.contentWindow) return;
    var data = event.data;
    if (!data || typeof data.type !== 'string') return;
    if (data.type === 'tessera:ready') {
      this._ready = true;
      var queue = this._queue;
      this._queue = [];
      for (var i = 0; i < queue.length; i++) this._post(queue[i]);
      this._emit('ready', {});
    } else if (data.type === 'tessera:resize' && typeof data.height === 'number') {
      this._frame.style.height = Math.min(Math.max(data.height, 60), 2000) + 'px';
    } else if (data.type === 'tessera:change') {
      this._emit('change', { brand: String(data.brand || 'unknown'), complete: data.complete === true });
    } else if (data.type === 'tessera:error') {
      var err = new TesseraError(String(data.code), String(data.message), null);
      this._fail(err);
      this._emit('error', err);
    } else if (data.type === 'tessera:result' && this._pending[data.id]) {
      var p = this._pending[data.id];
      delete this._pending[data.id];
      clearTimeout(p.timer);
      if (data.error) p.reject(new TesseraError(String(data.error.code), String(data.error.message), data.error.param || null));
      else p.resolve(data.result);
    }
  };

  window.Tessera = {
    version: '1',
    card: function (options) { return new Card(options); },
    TesseraError: TesseraError,
  };
})();
