// OAuth 2.0 Form Post Response Mode: send the response to the client as soon as the page loads.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("form_post");
  if (form) {
    form.submit();
  }
});
