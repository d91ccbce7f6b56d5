<?xml version="1.0" encoding="UTF-8"?>
<!--
  Practical information: phones, e-mail, postal address, opening hours, exceptional
  closures, and the legal notice. Shown on every page by every theme (a visitor on any
  page should be one tap away from calling).
-->
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">

  <!-- The number to call from a "Call" button: the first landline or mobile (never a fax). -->
  <xsl:variable name="call-phone" select="/site/contact/phone[@kind != 'fax'][1]"/>

  <!-- Closures still to come. With the optional $today parameter (YYYY-MM-DD, see base.xsl)
       past closures are hidden; without it, all are shown. Dates compare as numbers once
       the dashes are removed. -->
  <xsl:variable name="today-n" select="number(translate($today, '-', ''))"/>
  <xsl:variable name="closures"
      select="/site/hours/closure[not($today-n = $today-n)
              or number(translate(concat(@to, substring(@from, 1, 10 * not(@to))), '-', '')) &gt;= $today-n]"/>

  <!-- ======================================================== contact -->

  <!-- Phones and e-mail as a list of click-to-call / mailto links. -->
  <xsl:template name="contact-links">
    <ul class="contact-links">
      <xsl:for-each select="/site/contact/phone">
        <li class="contact-{@kind}">
          <span class="label">
            <xsl:call-template name="t"><xsl:with-param name="key" select="concat('phone-', @kind)"/></xsl:call-template>
          </span>
          <xsl:text> </xsl:text>
          <xsl:choose>
            <!-- Nobody calls a fax from a browser: show it, do not link it. -->
            <xsl:when test="@kind = 'fax'"><span class="value"><xsl:value-of select="normalize-space(.)"/></span></xsl:when>
            <xsl:otherwise>
              <a class="value" href="tel:{@number}"><xsl:value-of select="normalize-space(.)"/></a>
            </xsl:otherwise>
          </xsl:choose>
        </li>
      </xsl:for-each>
      <xsl:for-each select="/site/contact/email">
        <li class="contact-email">
          <span class="label"><xsl:call-template name="t"><xsl:with-param name="key" select="'email'"/></xsl:call-template></span>
          <xsl:text> </xsl:text>
          <a class="value" href="mailto:{normalize-space(.)}"><xsl:value-of select="normalize-space(.)"/></a>
        </li>
      </xsl:for-each>
    </ul>
  </xsl:template>

  <!-- Postal address in an <address> element, with a map link when coordinates are known. -->
  <xsl:template name="postal-address">
    <xsl:variable name="a" select="/site/contact/address"/>
    <address class="postal-address">
      <strong><xsl:value-of select="normalize-space(/site/identity/name)"/></strong>
      <xsl:for-each select="$a/street">
        <br/><xsl:value-of select="normalize-space(.)"/>
      </xsl:for-each>
      <br/><xsl:value-of select="concat(normalize-space($a/postcode), ' ', normalize-space($a/city))"/>
      <br/><xsl:value-of select="normalize-space($a/country)"/>
    </address>
    <xsl:if test="$a/geo">
      <p class="map-link">
        <a href="https://www.openstreetmap.org/?mlat={$a/geo/@lat}&amp;mlon={$a/geo/@lon}#map=17/{$a/geo/@lat}/{$a/geo/@lon}" rel="noopener">
          <xsl:call-template name="t"><xsl:with-param name="key" select="'map'"/></xsl:call-template>
        </a>
      </p>
    </xsl:if>
  </xsl:template>

  <!-- ========================================================== hours -->

  <!-- Opening-hours table, one row per day, closed days included. -->
  <xsl:template name="hours-table">
    <xsl:if test="/site/hours">
      <table class="hours">
        <thead class="visually-hidden">
          <tr>
            <th scope="col"><xsl:call-template name="t"><xsl:with-param name="key" select="'day'"/></xsl:call-template></th>
            <th scope="col"><xsl:call-template name="t"><xsl:with-param name="key" select="'opening'"/></xsl:call-template></th>
          </tr>
        </thead>
        <tbody>
          <xsl:for-each select="/site/hours/day">
            <tr>
              <xsl:if test="@closed = 'true'"><xsl:attribute name="class">closed</xsl:attribute></xsl:if>
              <th scope="row">
                <xsl:call-template name="day-name"><xsl:with-param name="day" select="@name"/></xsl:call-template>
              </th>
              <td>
                <xsl:choose>
                  <xsl:when test="@closed = 'true' or not(open)">
                    <xsl:call-template name="t"><xsl:with-param name="key" select="'closed'"/></xsl:call-template>
                  </xsl:when>
                  <xsl:otherwise>
                    <xsl:for-each select="open">
                      <xsl:if test="position() &gt; 1">
                        <xsl:call-template name="t"><xsl:with-param name="key" select="'and'"/></xsl:call-template>
                      </xsl:if>
                      <span class="range">
                        <xsl:call-template name="format-time"><xsl:with-param name="time" select="@from"/></xsl:call-template>
                        <xsl:text>&#x202F;–&#x202F;</xsl:text>
                        <xsl:call-template name="format-time"><xsl:with-param name="time" select="@to"/></xsl:call-template>
                      </span>
                    </xsl:for-each>
                  </xsl:otherwise>
                </xsl:choose>
              </td>
            </tr>
          </xsl:for-each>
        </tbody>
      </table>
      <xsl:for-each select="/site/hours/note">
        <p class="hours-note"><xsl:value-of select="normalize-space(.)"/></p>
      </xsl:for-each>
    </xsl:if>
  </xsl:template>

  <!-- One closure as a sentence: "Fermeture exceptionnelle du 1er au 21 août 2026 : Congés annuels". -->
  <xsl:template match="closure" mode="sentence">
    <strong>
      <xsl:call-template name="t"><xsl:with-param name="key" select="'closure'"/></xsl:call-template>
    </strong>
    <xsl:text> </xsl:text>
    <xsl:call-template name="format-period">
      <xsl:with-param name="from" select="@from"/>
      <xsl:with-param name="to" select="@to"/>
    </xsl:call-template>
    <xsl:if test="normalize-space(.) != ''">
      <xsl:choose>
        <xsl:when test="$fr">&#xA0;: </xsl:when>
        <xsl:otherwise>: </xsl:otherwise>
      </xsl:choose>
      <xsl:value-of select="normalize-space(.)"/>
    </xsl:if>
  </xsl:template>

  <!-- Banner at the top of every page while closures are announced. -->
  <xsl:template name="closures-banner">
    <xsl:if test="$closures">
      <aside class="notice" role="note">
        <xsl:attribute name="aria-label">
          <xsl:call-template name="t"><xsl:with-param name="key" select="'closures'"/></xsl:call-template>
        </xsl:attribute>
        <xsl:for-each select="$closures">
          <p><xsl:apply-templates select="." mode="sentence"/></p>
        </xsl:for-each>
      </aside>
    </xsl:if>
  </xsl:template>

  <!-- ====================================================== blocks -->

  <!-- Contact block with its heading; $level is the heading element (h2 by default). -->
  <xsl:template name="contact-block">
    <xsl:param name="level" select="'h2'"/>
    <section class="contact-block" id="contact" aria-labelledby="contact-title">
      <xsl:element name="{$level}">
        <xsl:attribute name="id">contact-title</xsl:attribute>
        <xsl:call-template name="t"><xsl:with-param name="key" select="'contact'"/></xsl:call-template>
      </xsl:element>
      <xsl:call-template name="postal-address"/>
      <xsl:call-template name="contact-links"/>
    </section>
  </xsl:template>

  <!-- $with-closures: also list the closures under the table. Off by default, as every
       theme already announces them in the banner at the top of the page. -->
  <xsl:template name="hours-block">
    <xsl:param name="level" select="'h2'"/>
    <xsl:param name="with-closures" select="false()"/>
    <xsl:if test="/site/hours">
      <section class="hours-block" id="horaires" aria-labelledby="hours-title">
        <xsl:element name="{$level}">
          <xsl:attribute name="id">hours-title</xsl:attribute>
          <xsl:call-template name="t"><xsl:with-param name="key" select="'hours'"/></xsl:call-template>
        </xsl:element>
        <xsl:call-template name="hours-table"/>
        <xsl:if test="$with-closures and $closures">
          <ul class="closures">
            <xsl:for-each select="$closures">
              <li><xsl:apply-templates select="." mode="sentence"/></li>
            </xsl:for-each>
          </ul>
        </xsl:if>
      </section>
    </xsl:if>
  </xsl:template>

  <!-- ====================================================== legal -->

  <!-- Legal notice as a description list; only the fields the site provides. -->
  <xsl:template name="legal-block">
    <xsl:param name="level" select="'h2'"/>
    <xsl:variable name="l" select="/site/identity/legal"/>
    <section class="legal" aria-labelledby="legal-title">
      <xsl:element name="{$level}">
        <xsl:attribute name="id">legal-title</xsl:attribute>
        <xsl:call-template name="t"><xsl:with-param name="key" select="'legal'"/></xsl:call-template>
      </xsl:element>
      <dl>
        <xsl:call-template name="legal-row"><xsl:with-param name="key" select="'company'"/><xsl:with-param name="value" select="$l/company"/></xsl:call-template>
        <xsl:call-template name="legal-row"><xsl:with-param name="key" select="'form'"/><xsl:with-param name="value" select="$l/form"/></xsl:call-template>
        <xsl:call-template name="legal-row">
          <xsl:with-param name="key" select="'registration'"/>
          <xsl:with-param name="label" select="$l/registration/@kind"/>
          <xsl:with-param name="value" select="$l/registration"/>
        </xsl:call-template>
        <xsl:call-template name="legal-row"><xsl:with-param name="key" select="'vat'"/><xsl:with-param name="value" select="$l/vat"/></xsl:call-template>
        <xsl:call-template name="legal-row"><xsl:with-param name="key" select="'director'"/><xsl:with-param name="value" select="$l/director"/></xsl:call-template>
        <xsl:call-template name="legal-row"><xsl:with-param name="key" select="'profession'"/><xsl:with-param name="value" select="$l/profession"/></xsl:call-template>
        <xsl:call-template name="legal-row"><xsl:with-param name="key" select="'insurance'"/><xsl:with-param name="value" select="$l/insurance"/></xsl:call-template>
        <xsl:call-template name="legal-row"><xsl:with-param name="key" select="'host'"/><xsl:with-param name="value" select="$l/host"/></xsl:call-template>
      </dl>
    </section>
  </xsl:template>

  <xsl:template name="legal-row">
    <xsl:param name="key"/>
    <xsl:param name="label"/>
    <xsl:param name="value"/>
    <xsl:if test="normalize-space($value) != ''">
      <div>
        <dt>
          <xsl:choose>
            <xsl:when test="normalize-space($label) != ''"><xsl:value-of select="normalize-space($label)"/></xsl:when>
            <xsl:otherwise><xsl:call-template name="t"><xsl:with-param name="key" select="$key"/></xsl:call-template></xsl:otherwise>
          </xsl:choose>
        </dt>
        <dd><xsl:value-of select="normalize-space($value)"/></dd>
      </div>
    </xsl:if>
  </xsl:template>

</xsl:stylesheet>
